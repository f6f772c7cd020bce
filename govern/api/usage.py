"""POST /v1/usage: what an allowed call used, reported by the gateway or model server (a pep key)
or by the client whose key made the decision. 201 with the stored report; 200 when the same report
was stored before; problems otherwise (govern.decisions.usage says which and why)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from govern.api.body import field, read_json
from govern.api.check import caller_key
from govern.api.problems import json_response
from govern.decisions.usage import UsageReport, cost_nanos, record_usage, reporter, token_count, usage_dict
from govern.errors import Unauthenticated
from govern.identity.directory import AuthFailure
from govern.models.base import utcnow

if TYPE_CHECKING:
    from govern.api.plane import Plane

USAGE_BODY_LIMIT = 4 * 1024


def report(plane: Plane, request: Request) -> Response:
    runtime = plane.runtime()
    try:
        by = reporter(runtime.keys, caller_key(request.headers), time.time())
    except AuthFailure as failure:
        raise Unauthenticated(failure.message, code=failure.reason.value) from None
    body = read_json(request, USAGE_BODY_LIMIT)
    cost = field(body, "cost", (int, float, str), required=False, nullable=False)
    asked = UsageReport(
        decision_id=field(body, "decision_id", str, max_length=26),
        input_tokens=token_count(field(body, "input_tokens", int), "input_tokens"),
        output_tokens=token_count(field(body, "output_tokens", int), "output_tokens"),
        cost_nanos=None if cost is None else cost_nanos(cost),
        model=field(body, "model", str, required=False, max_length=200, nullable=False),
    )
    recorded = record_usage(runtime.engine, by, asked, utcnow())
    runtime.settle_usage(recorded)  # a report sent again is settled at most once
    return json_response(usage_dict(recorded.usage, plane.settings.currency), 201 if recorded.new else 200)
