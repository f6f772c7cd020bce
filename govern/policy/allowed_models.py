"""Which Casbin models govern stores and serves: the model is code, not a setting.

The model decides what a policy line means (its matcher could make every caller allowed), so a
model is accepted only when its SHA-256 is allowed: the shipped `policies/model.conf`, plus the
digests the host operator lists in GOVERN_ALLOWED_MODEL_SHA256. The list is host configuration,
the same for the whole process, so `create_app` hands it over once and nothing stored can widen it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache

from govern.errors import PolicyRejected
from govern.policy.files import MODEL_FILE
from govern.resources import resource_dir

_operator_digests: frozenset[str] = frozenset()


def model_sha256(model_conf: str) -> str:
    """The SHA-256 (hex) of the model text exactly as given, as `sha256sum model.conf` prints it."""
    return hashlib.sha256(model_conf.encode("utf-8")).hexdigest()


@cache
def shipped_model_sha256() -> str:
    return model_sha256((resource_dir("policies") / MODEL_FILE).read_text())


def allow_operator_models(digests: Iterable[str]) -> None:
    """Set the digests the host operator allows besides the shipped model (replacing any before)."""
    global _operator_digests
    _operator_digests = frozenset(digest.lower() for digest in digests)


def allowed_model_digests() -> frozenset[str]:
    return _operator_digests | {shipped_model_sha256()}


def check_model_allowed(model_conf: str) -> str:
    """The model's SHA-256 if it is allowed; raises PolicyRejected (model_not_allowed) if not."""
    digest = model_sha256(model_conf)
    if digest not in allowed_model_digests():
        raise PolicyRejected(
            f"the Casbin model (SHA-256 {digest}) is not allowed: govern accepts the shipped "
            "policies/model.conf and the models whose SHA-256 the host operator lists in "
            "GOVERN_ALLOWED_MODEL_SHA256", code="model_not_allowed")
    return digest
