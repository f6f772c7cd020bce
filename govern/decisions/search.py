"""Searches over the policy in force (AuthZEN search, GET /v1/models): which models a subject may
use, which capabilities it has on a model, which subjects may use a model.

Every search asks the same policy snapshot the same question a single check would, for each
candidate, with subjects resolved by the same directory, so a search and a check always agree.
Searches answer questions about many decisions at once; they are not decisions themselves and
leave no rows in the decision log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import orjson

from govern.decisions.runtime import MODEL_RESOURCE, Runtime
from govern.errors import InvalidInput, ServiceUnavailable
from govern.identity.subjects import API_KEY, Listed, Subject, SubjectRefused
from govern.models.api_key import CLIENT
from govern.policy.snapshot import PolicySnapshot
from govern.types import Caller

T = TypeVar("T")

DEFAULT_PAGE = 100
MAX_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class UsableModel:
    id: str
    group: str
    capabilities: tuple[str, ...]


def _snapshot(runtime: Runtime) -> PolicySnapshot:
    snapshot = runtime.snapshot
    if snapshot is None:
        raise ServiceUnavailable("no policy snapshot is loaded yet", code="policy_not_loaded")
    return snapshot


def _caller(runtime: Runtime, snapshot: PolicySnapshot, subject: Subject) -> Caller | None:
    try:
        return runtime.subjects.resolve(subject, snapshot, time.time())
    except SubjectRefused:
        return None


def resources(runtime: Runtime, subject: Subject, resource_type: str, capability: str) -> list[str]:
    """The models `subject` may use for `capability`, by name."""
    snapshot = _snapshot(runtime)
    caller = _caller(runtime, snapshot, subject)
    if caller is None or resource_type != MODEL_RESOURCE:
        return []
    now = time.time()
    return [model for model in sorted(snapshot.document.models)
            if runtime.decide_as(snapshot, caller, model, capability, now).allow]


def actions(runtime: Runtime, subject: Subject, resource_type: str, model: str) -> list[str]:
    """The capabilities `subject` has on `model`, in policy order."""
    snapshot = _snapshot(runtime)
    caller = _caller(runtime, snapshot, subject)
    if caller is None or resource_type != MODEL_RESOURCE:
        return []
    now = time.time()
    return [capability for capability in snapshot.document.capabilities
            if runtime.decide_as(snapshot, caller, model, capability, now).allow]


def subjects(runtime: Runtime, subject_type: str, resource_type: str, model: str,
             capability: str) -> list[Listed]:
    """The subjects of `subject_type` that may use `capability` of `model`."""
    snapshot = _snapshot(runtime)
    if resource_type != MODEL_RESOURCE:
        return []
    now = time.time()
    return [listed for listed in runtime.subjects.list_all(subject_type, snapshot, now)
            if runtime.decide_as(snapshot, listed.caller, model, capability, now).allow]


def usable_models(runtime: Runtime, raw_key: str | None) -> list[UsableModel]:
    """The models the calling client key may use for at least one capability.
    Raises AuthFailure for a missing, unknown, revoked, expired or non-client key."""
    entry = runtime.keys.authenticate(raw_key, time.time(), CLIENT)
    snapshot = _snapshot(runtime)
    caller = _caller(runtime, snapshot, Subject(API_KEY, entry.prefix))
    if caller is None:
        return []
    found, now = [], time.time()
    for model, group in sorted(snapshot.document.models.items()):
        allowed = tuple(c for c in snapshot.document.capabilities
                        if runtime.decide_as(snapshot, caller, model, c, now).allow)
        if allowed:
            found.append(UsableModel(model, group, allowed))
    return found


# -- pagination ----------------------------------------------------------------------------------
def fingerprint(query: object) -> str:
    """A short digest of a search request without its page: a token only continues the same search."""
    return hashlib.sha256(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def page(items: Sequence[T], *, token: str | None, limit: int | None,
         query_fingerprint: str) -> tuple[list[T], str]:
    """One page of `items` and the token of the next page ("" after the last page).

    AuthZEN's limit is a non-negative integer: a negative one is refused. Over MAX_PAGE it is served
    as MAX_PAGE and 0 as DEFAULT_PAGE (an empty page would never end): the caller pages on with the
    token instead of being refused. A token continues only the search it came from, limit included
    (the spec wants every parameter but the token unchanged mid-pagination). Raises InvalidInput
    for a negative limit and for a token that is malformed or was issued for a different search."""
    if limit is not None and limit < 0:
        raise InvalidInput("'page.limit' must be a non-negative integer", code="invalid_field")
    size = DEFAULT_PAGE if limit is None or limit == 0 else min(limit, MAX_PAGE)
    query_fingerprint = f"{query_fingerprint}/{limit}"
    start = _offset(token, query_fingerprint) if token else 0
    chunk = list(items[start:start + size])
    end = start + len(chunk)
    next_token = _token(end, query_fingerprint) if end < len(items) else ""
    return chunk, next_token


def _token(offset: int, query_fingerprint: str) -> str:
    raw = orjson.dumps({"o": offset, "q": query_fingerprint})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, query_fingerprint: str) -> int:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, asked = raw["o"], raw["q"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise InvalidInput("page.token is not a token this service issued",
                           code="invalid_page_token") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or asked != query_fingerprint:
        raise InvalidInput("page.token belongs to a different search", code="invalid_page_token")
    return offset
