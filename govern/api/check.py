"""POST /v1/check and /v1/check/batch: the access decision for the calling API key.

A deny is an answer (200); a missing, unknown, revoked or expired key is a 401 problem, and both
are in the decision log before the response leaves.
"""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from govern.api import runtime
from govern.api.body import field, json_body
from govern.api.problems import problem
from govern.decisions.runtime import Outcome, Question
from govern.errors import InvalidInput
from govern.types import REASON_TEXT

bp = Blueprint("check", __name__, url_prefix="/v1")

CHECK_BODY_LIMIT = 64 * 1024
BATCH_BODY_LIMIT = 1024 * 1024
MAX_BATCH = 100
# AuthZEN: "an arbitrary string". Anything but control characters (which could split a header or a
# log line), up to the stored column's length; one rule for every endpoint that takes it.
REQUEST_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")


def caller_key() -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key`."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.headers.get("X-API-Key") or None


def request_id() -> str | None:
    value = request.headers.get("X-Request-ID")
    if value is not None and not REQUEST_ID.match(value):
        raise InvalidInput("X-Request-ID must be 1 to 200 characters, none of them a control character",
                           code="invalid_request_id")
    return value


def question(body: dict[str, Any]) -> Question:
    model = field(body, "model", str, max_length=200)
    capability = field(body, "capability", str, max_length=100)
    field(body, "context", dict, required=False)
    return Question(model, capability)


def _unauthenticated(outcome: Outcome) -> Response:
    response = problem(401, outcome.reason.value, REASON_TEXT[outcome.reason],
                       decision_id=outcome.decision_id)
    response.headers["WWW-Authenticate"] = 'Bearer realm="govern"'
    return response


def _answer(outcomes: list[Outcome], payload: object) -> Response:
    response = _unauthenticated(outcomes[0]) if not outcomes[0].authenticated else jsonify(payload)
    if "X-Request-ID" not in request.headers:
        response.headers["X-Request-ID"] = outcomes[0].decision_id
    return response


@bp.after_request
def echo_request_id(response: Response) -> Response:
    """The caller's X-Request-ID comes back on every answer, errors included."""
    value = request.headers.get("X-Request-ID")
    if value is not None and REQUEST_ID.match(value):
        response.headers["X-Request-ID"] = value
    return response


@bp.post("/check")
def check() -> Response:
    started = time.perf_counter()
    rid = request_id()
    asked = question(json_body(CHECK_BODY_LIMIT))
    outcomes = runtime().check(caller_key(), [asked], request_id=rid, started=started,
                               source=request.remote_addr)
    return _answer(outcomes, outcomes[0].as_dict())


@bp.post("/check/batch")
def check_batch() -> Response:
    started = time.perf_counter()
    rid = request_id()
    checks = field(json_body(BATCH_BODY_LIMIT), "checks", list)
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
    outcomes = runtime().check(caller_key(), questions, request_id=rid, started=started,
                               source=request.remote_addr)
    return _answer(outcomes, {"results": [o.as_dict() for o in outcomes]})
