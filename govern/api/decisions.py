"""GET /v1/decisions: the decision log for admins and auditors, filtered, cursor-paginated."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from govern.api.auth import require_role
from govern.api.body import time_field
from govern.decisions.query import MAX_PAGE, DecisionFilter, list_decisions
from govern.errors import InvalidInput
from govern.extensions import current_session

bp = Blueprint("decisions", __name__, url_prefix="/v1")

RESULTS = {"allow": True, "deny": False}


@bp.get("/decisions")
@require_role("admin", "auditor")
def index() -> Response:
    args = request.args
    result = args.get("result")
    if result is not None and result not in RESULTS:
        raise InvalidInput("result must be allow or deny", code="invalid_field")
    limit_raw = args.get("limit", "100")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_PAGE:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="invalid_field")
    where = DecisionFilter(
        since=time_field(args, "since"), until=time_field(args, "until"),
        key_prefix=args.get("key_prefix"), model=args.get("model"),
        capability=args.get("capability"), allow=RESULTS.get(result) if result else None,
        issuer=args.get("issuer"), subject=args.get("subject"),
    )
    rows, cursor = list_decisions(current_session(), where, limit=int(limit_raw), cursor=args.get("cursor"))
    return jsonify({"decisions": rows, "next_cursor": cursor})
