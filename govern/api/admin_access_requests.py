"""Admin API for access requests: list and read them (admin, auditor), approve or reject them
(admin). Approving proposes the grant for a second admin, or is that second admin's approval."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.extensions import current_session
from govern.governance import access_requests, proposals

bp = Blueprint("admin_access_requests", __name__, url_prefix="/v1/admin/access-requests")

REQUEST_ID = "<int(max=2147483647):request_id>"


def _reason(*, required: bool) -> str:
    reason: str = field(json_body(optional=not required), "reason", str, required=required, default="",
                        max_length=proposals.MAX_REASON)
    return reason


@bp.get("")
@require_role("admin", "auditor")
def index() -> Response:
    listed = access_requests.list_requests(current_session(), request.args.get("state") or None)
    return jsonify({"access_requests": [info.as_dict() for info in listed]})


@bp.get(f"/{REQUEST_ID}")
@require_role("admin", "auditor")
def show(request_id: int) -> Response:
    return jsonify(access_requests.trail(current_session(), request_id).as_dict())


@bp.post(f"/{REQUEST_ID}/approve")
@require_role("admin")
def approve(request_id: int) -> Response:
    access_requests.approve(current_session(), request_id, actor=g.actor, reason=_reason(required=False))
    return jsonify(access_requests.trail(current_session(), request_id).as_dict())


@bp.post(f"/{REQUEST_ID}/reject")
@require_role("admin")
def reject(request_id: int) -> Response:
    access_requests.reject(current_session(), request_id, actor=g.actor, reason=_reason(required=True))
    return jsonify(access_requests.trail(current_session(), request_id).as_dict())
