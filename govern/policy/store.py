"""The live policy in the database: read it, change it (validated, versioned, audited), seed it."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import NotFound, PolicyRejected
from govern.models import ApiKey, GovernedModel, Organisation, PolicyVersion
from govern.models.change_counter import POLICY, bump_counter
from govern.policy.allowed_models import check_model_allowed, model_sha256
from govern.policy.casbin_answers import load_model
from govern.policy.document import PolicyDocument, parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.types import ModelAccess


def current_policy(session: Session) -> PolicyVersion:
    row = session.execute(
        select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)
    ).scalar()
    if row is None:
        raise NotFound("no policy has been loaded yet: run `govern init`", code="policy_missing")
    return row


def current_document(session: Session) -> PolicyDocument:
    return parse_document(current_policy(session).document)


def current_snapshot(session: Session, governed: Mapping[str, ModelAccess] | None = None,
                     valid_until: float = math.inf) -> PolicySnapshot:
    row = current_policy(session)
    return PolicySnapshot(row.version, parse_document(row.document), row.model_conf, governed, valid_until)


def _check_tiers_in_use(session: Session, document: PolicyDocument) -> None:
    known = set(document.tiers)
    org_tiers = session.execute(select(Organisation.name, Organisation.tier)).all()
    in_use = sorted({tier for _, tier in org_tiers if tier not in known})
    caps = session.execute(select(ApiKey.tier_cap).where(ApiKey.tier_cap.is_not(None))).scalars()
    in_use += sorted({cap for cap in caps if cap and cap not in known and cap not in in_use})
    if in_use:
        raise PolicyRejected(
            f"tier {', '.join(in_use)} is still assigned to organisations or keys; move them first",
            code="tier_in_use",
        )


def _check_organisations_named(session: Session, document: PolicyDocument) -> None:
    """Budgets of an organisation that does not exist would apply to the first one made with
    that name, and a misspelt name would limit nobody: both are refused."""
    if not document.organisation_budgets:
        return
    known = set(session.execute(select(Organisation.name)).scalars())
    unknown = sorted(name for name in document.organisation_budgets if name not in known)
    if unknown:
        raise PolicyRejected(f"organisation_budgets names an unknown organisation {', '.join(unknown)}",
                             code="unknown_organisation")


def save_policy(session: Session, document: PolicyDocument, model_conf: str, *,
                actor: str, comment: str = "") -> int:
    """Store a policy as the next version and commit; returns the new version.

    Every entry point (admin API, UI, CLI, governance) stores policy through here, so every version
    is held to the same rules before anything is stored (see check_policy). The audit event records
    the document and the model's SHA-256 before and after, and the model's text when it changed."""
    digest = check_policy(session, document, model_conf)
    _check_tiers_in_use(session, document)
    _check_organisations_named(session, document)
    previous = session.execute(
        select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)
    ).scalar()
    version = bump_counter(session, POLICY)
    session.add(PolicyVersion(version=version, document=document.as_dict(), model_conf=model_conf,
                              actor=actor, comment=comment))
    before: dict[str, Any] | None = None
    after: dict[str, Any] = {"document": document.as_dict(), "model_sha256": digest}
    if previous is None:
        after["model_conf"] = model_conf
    else:
        before = {"document": previous.document, "model_sha256": model_sha256(previous.model_conf)}
        if previous.model_conf != model_conf:
            before["model_conf"], after["model_conf"] = previous.model_conf, model_conf
    record_event(session, actor=actor, action="policy.change", target=f"policy:{version}",
                 before=before, after=after)
    session.commit()
    return version


def change_policy(session: Session, mutate: Callable[[dict[str, Any]], None], *,
                  actor: str, comment: str) -> int:
    """Apply `mutate` to a copy of the current policy as plain data, validate, store.

    Nothing is stored if `mutate` raises or the result does not validate."""
    row = current_policy(session)
    return save_policy(session, edited_document(session, mutate), row.model_conf, actor=actor,
                       comment=comment)


def edited_document(session: Session, mutate: Callable[[dict[str, Any]], None]) -> PolicyDocument:
    """The current policy with `mutate` applied to a copy of it as plain data, validated."""
    raw = copy.deepcopy(current_policy(session).document)
    mutate(raw)
    return parse_document(raw)


def check_policy(session: Session, document: PolicyDocument, model_conf: str) -> str:
    """The rules every policy version is held to; returns the model's SHA-256. The Casbin model is
    an allowed one (PolicyRejected model_not_allowed), it parses, Casbin accepts every rule, and
    every question the policy can be asked evaluates (PolicyRejected policy_evaluation_failed)."""
    digest = check_model_allowed(model_conf)
    load_model(model_conf)
    PolicySnapshot(0, document, model_conf).verify(session.execute(select(GovernedModel.name)).scalars())
    return digest


def ensure_seeded(session: Session, document: PolicyDocument, model_conf: str, *, actor: str) -> bool:
    """Store the default policy if there is none yet; True if it did."""
    if session.execute(select(PolicyVersion.version).limit(1)).first() is not None:
        return False
    save_policy(session, document, model_conf, actor=actor, comment="seeded from policies/")
    return True
