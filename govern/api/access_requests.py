"""Access requests, for those who ask: POST /v1/access-requests and GET /v1/access-requests/<id>,
authenticated by the caller's own client key or bearer token (the credential that was denied).
The organisation or identity asking comes from the credential, never from the body."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request

from govern.api import runtime
from govern.api.admin_body import json_body
from govern.api.body import field
from govern.api.check import caller_key
from govern.errors import Unauthenticated
from govern.extensions import current_session
from govern.governance import access_requests
from govern.governance.access_requests import Requester
from govern.identity.directory import AuthFailure

bp = Blueprint("access_requests_api", __name__, url_prefix="/v1/access-requests")

REQUEST_ID = "<int(max=2147483647):request_id>"
BODY_LIMIT = 16 * 1024


def requester() -> Requester:
    """Who calls, from their client key or bearer token; Unauthenticated otherwise."""
    try:
        principal = runtime().credentials.resolve(caller_key(request.headers), time.time())
    except AuthFailure as failure:
        raise Unauthenticated(failure.message, code=failure.reason.value) from None
    if principal.key_prefix is not None:
        return Requester(actor=f"key:{principal.key_prefix}", tier=principal.tier,
                         org_id=principal.org_id, tier_cap=principal.tier_cap)
    return Requester(actor=f"identity:{principal.issuer} {principal.subject}", tier=principal.tier,
                     issuer=principal.issuer, subject=principal.subject)


@bp.post("")
def create() -> tuple[Response, int]:
    asking = requester()
    body = json_body(BODY_LIMIT)
    info = access_requests.create_request(
        current_session(), asking,
        kind=field(body, "kind", str, max_length=20),
        justification=field(body, "justification", str,
                            max_length=access_requests.MAX_JUSTIFICATION),
        duration_seconds=field(body, "duration_seconds", int),
        tier=field(body, "tier", str, required=False, max_length=100),
        model=field(body, "model", str, required=False, max_length=200),
        capability=field(body, "capability", str, required=False, max_length=100),
        decision_id=field(body, "decision_id", str, required=False, max_length=26))
    return jsonify(info.as_dict()), 201


@bp.get(f"/{REQUEST_ID}")
def show(request_id: int) -> Response:
    info = access_requests.get_own_request(current_session(), requester(), request_id)
    return jsonify(info.as_dict())
