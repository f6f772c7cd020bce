"""Forward-auth: GET|POST /v1/authorize for nginx auth_request, Traefik ForwardAuth, Caddy
forward_auth and Envoy's ext_authz HTTP service (which appends the original path:
/v1/authorize/<path>).

The answer is the status a gateway acts on: 200 (allowed; X-Govern-Tier, X-Govern-Org and
X-Govern-Decision-Id for the upstream), 403 denied (X-Govern-Reason says why; a deny a higher tier
would allow names where to ask for it in X-Govern-Access-Request), 401 no or bad key
(WWW-Authenticate), 429 rate limited (Retry-After). nginx's auth_request turns any status but
2xx/401/403 into a 500, so a request that came through nginx (reported by X-Original-URI) gets a
rate limit as 403 with X-Govern-Reason: rate_limited and Retry-After, which the nginx snippet in
docs/gateways.md turns back into a 429.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from govern.api.check import REQUEST_ID, caller_key
from govern.api.problems import CHALLENGE, json_response, problem
from govern.api.quota import header_fields
from govern.decisions.runtime import Outcome, Question
from govern.gateway.routes import (
    ConflictingRequest,
    OriginalRequest,
    Unroutable,
    original_request,
    resolve,
)
from govern.types import Reason

if TYPE_CHECKING:
    from govern.api.plane import Plane

# Envoy forwards the client's method, whatever it is, OPTIONS included: govern decides it too.
FORWARDED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Organisation names are free text; a header value must be printable ASCII.
HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _body(request: Request) -> Mapping[str, Any] | None:
    """The forwarded JSON body, if there is one that parses to an object."""
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None
    try:
        parsed = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _denied(status: int, reason: str, message: str, decision_id: str | None = None,
            **extra: object) -> Response:
    if decision_id:
        extra["decision_id"] = decision_id
    response = problem(status, reason, message, **extra)
    response.headers["X-Govern-Reason"] = reason
    if decision_id:
        response.headers["X-Govern-Decision-Id"] = decision_id
    if status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _answer(outcome: Outcome, original: OriginalRequest | None, base_url: str) -> Response:
    response = _status(outcome, original, base_url)
    response.headers.update(header_fields(outcome.quota))
    return response


def _status(outcome: Outcome, original: OriginalRequest | None, base_url: str) -> Response:
    if outcome.allow:
        response = json_response(outcome.as_dict())
        response.headers["X-Govern-Tier"] = outcome.tier or ""
        response.headers["X-Govern-Org"] = quote(outcome.org_name or "", safe=HEADER_SAFE)
        response.headers["X-Govern-Decision-Id"] = outcome.decision_id
        return response
    message = outcome.message
    if not outcome.authenticated:
        return _denied(401, outcome.reason.value, message, outcome.decision_id)
    if outcome.reason is Reason.RATE_LIMITED:
        status = 403 if original is not None and original.reported_by == "nginx" else 429
        response = _denied(status, outcome.reason.value, message, outcome.decision_id)
        response.headers["Retry-After"] = str(outcome.retry_after or 1)
        return response
    handle = outcome.access_request(base_url)
    if handle is None:
        return _denied(403, outcome.reason.value, message, outcome.decision_id)
    response = _denied(403, outcome.reason.value, message, outcome.decision_id, access_request=handle)
    response.headers["X-Govern-Access-Request"] = str(handle["url"])
    return response


def authorize(plane: Plane, request: Request, forwarded: str | None = None) -> Response:
    started = time.perf_counter()
    try:
        original = original_request(request.method, forwarded, request.headers, plane.settings.gateway_kind)
        asked = resolve(plane.routes, original, request.headers, partial(_body, request))
    except ConflictingRequest as error:
        return _denied(400, error.code, error.message)
    except Unroutable as error:
        return _denied(403, error.code, error.message)
    rid = request.headers.get("X-Request-ID")
    outcome = plane.runtime().check(caller_key(request.headers), [Question(asked.model, asked.capability)],
                                    request_id=rid if rid and REQUEST_ID.match(rid) else None,
                                    started=started, source=request.remote_addr)[0]
    return _answer(outcome, original, plane.settings.public_url)
