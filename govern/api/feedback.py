"""POST /v1/feedback: a feedback or abuse report about one decision, from the client whose key made
it or from a gateway (pep key). 201 with the stored report; problems otherwise (govern.decisions.feedback
says which and why); 404 feedback_disabled when GOVERN_FEEDBACK_INTAKE is off."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from govern.api.body import field, read_json
from govern.api.check import caller_key
from govern.api.problems import json_response
from govern.decisions.feedback import FeedbackIn, feedback_dict, record_feedback
from govern.decisions.usage import reporter
from govern.errors import NotFound, Unauthenticated
from govern.identity.directory import AuthFailure
from govern.models.base import utcnow

if TYPE_CHECKING:
    from govern.api.plane import Plane

FEEDBACK_BODY_LIMIT = 16 * 1024  # room for the longest text, written in any script


def report(plane: Plane, request: Request) -> Response:
    if not plane.settings.feedback_intake:
        raise NotFound("feedback intake is switched off on this server (GOVERN_FEEDBACK_INTAKE)",
                       code="feedback_disabled")
    runtime = plane.runtime()
    try:
        by = reporter(runtime.keys, caller_key(request.headers), time.time())
    except AuthFailure as failure:
        raise Unauthenticated(failure.message, code=failure.reason.value) from None
    body = read_json(request, FEEDBACK_BODY_LIMIT)
    asked = FeedbackIn(
        decision_id=field(body, "decision_id", str, required=False, nullable=False, max_length=26),
        request_id=field(body, "request_id", str, required=False, nullable=False, max_length=200),
        subject=field(body, "subject", str, max_length=20),
        category=field(body, "category", str, max_length=40),
        text=field(body, "text", str, required=False, nullable=False) or "",
    )
    stored = record_feedback(runtime.engine, by, asked, utcnow())
    return json_response(feedback_dict(stored), 201)
