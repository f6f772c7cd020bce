"""POST /v1/check and /v1/check/batch: the access decision for the calling API key.

A deny is an answer (200); a missing, unknown, revoked or expired key is a 401 problem, and both
are in the decision log before the response leaves.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from govern.api.body import field, read_json
from govern.api.problems import CHALLENGE, json_response, problem
from govern.api.quota import quota
from govern.decisions.runtime import Outcome, Question
from govern.errors import InvalidInput

if TYPE_CHECKING:
    from govern.api.plane import Plane

CHECK_BODY_LIMIT = 64 * 1024
BATCH_BODY_LIMIT = 1024 * 1024
MAX_BATCH = 100
MAX_ESTIMATE = 10**9
# AuthZEN: "an arbitrary string". Anything but control characters (which could split a header or a
# log line), up to the stored column's length; one rule for every endpoint that takes it.
REQUEST_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")


def caller_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key`."""
    authorization = headers.get("Authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return headers.get("X-API-Key") or None


def request_id(request: Request) -> str | None:
    """The caller's X-Request-ID, or None; one that is not acceptable is a 400."""
    value = request.headers.get("X-Request-ID")
    if value is not None and not REQUEST_ID.match(value):
        raise InvalidInput("X-Request-ID must be 1 to 200 characters, none of them a control character",
                           code="invalid_request_id")
    return value


def question(body: dict[str, Any]) -> Question:
    model = field(body, "model", str, max_length=200)
    capability = field(body, "capability", str, max_length=100)
    context = field(body, "context", dict, required=False, default={})
    # What the call expects to use at most, held against the organisation's token budgets.
    max_tokens = field(context, "max_tokens", int, required=False, default=0)
    if not 0 <= max_tokens <= MAX_ESTIMATE:
        raise InvalidInput(f"field 'max_tokens' of 'context' must be from 0 to {MAX_ESTIMATE}",
                           code="invalid_field")
    return Question(model, capability, max_tokens)


def _unauthenticated(outcome: Outcome) -> Response:
    response = problem(401, outcome.reason.value, outcome.message,
                       decision_id=outcome.decision_id)
    response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _answer(request: Request, outcomes: list[Outcome], payload: object) -> Response:
    response = _unauthenticated(outcomes[0]) if not outcomes[0].authenticated else json_response(payload)
    if "X-Request-ID" not in request.headers:
        response.headers["X-Request-ID"] = outcomes[0].decision_id
    return response


def check(plane: Plane, request: Request) -> Response:
    started = time.perf_counter()
    rid = request_id(request)
    asked = question(read_json(request, CHECK_BODY_LIMIT))
    outcomes = plane.runtime().check(caller_key(request.headers), [asked], request_id=rid, started=started,
                                     source=request.remote_addr)
    body = outcomes[0].as_dict(plane.settings.public_url)
    return _answer(request, outcomes, _with_quota(body, outcomes[0]))


def check_batch(plane: Plane, request: Request) -> Response:
    started = time.perf_counter()
    rid = request_id(request)
    checks = field(read_json(request, BATCH_BODY_LIMIT), "checks", list)
    if not 1 <= len(checks) <= MAX_BATCH:
        raise InvalidInput(f"'checks' must hold 1 to {MAX_BATCH} checks", code="invalid_batch")
    questions = []
    for index, item in enumerate(checks):
        if not isinstance(item, dict):
            raise InvalidInput(f"checks[{index}] must be an object", code="invalid_field")
        try:
            questions.append(question(item))
        except InvalidInput as error:
            raise InvalidInput(f"checks[{index}]: {error.message}", code=error.code) from None
    outcomes = plane.runtime().check(caller_key(request.headers), questions, request_id=rid, started=started,
                                     source=request.remote_addr)
    results = [o.as_dict(plane.settings.public_url) for o in outcomes]
    return _answer(request, outcomes, _with_quota({"results": results}, outcomes[0]))


def _with_quota(body: dict[str, object], outcome: Outcome) -> dict[str, object]:
    """`body` with the caller's remaining quota (`rate_limit`), when its tier has a limit."""
    left = quota(outcome.quota)
    return body if left is None else {**body, "rate_limit": left}
