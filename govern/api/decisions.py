"""GET /v1/decisions: the decision log for admins and auditors, filtered, cursor-paginated."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from govern.api.auth import require_role
from govern.api.body import time_field
from govern.decisions.query import EQUALITY_FILTERS, MAX_PAGE, DecisionFilter, list_decisions
from govern.errors import InvalidInput
from govern.extensions import current_session
from govern.identity.organisations import get_org

bp = Blueprint("decisions", __name__, url_prefix="/v1")

RESULTS = {"allow": True, "deny": False}
DELIVERED = {"true": True, "false": False}
# Query parameters taken as they are, under the names the filter uses (org, result and delivered
# are parsed).
TEXT_FILTERS = tuple(name for name in EQUALITY_FILTERS if name not in ("org_id", "allow", "delivered"))


def filter_from_args(session: Session, args: Mapping[str, str]) -> DecisionFilter:
    """The decision filter a query string asks for; empty values are no filter. `org` is an
    organisation's name or id (an id also finds decisions of an organisation since deleted)."""
    values = {name: args.get(name) or None for name in TEXT_FILTERS}
    result = args.get("result") or None
    if result is not None and result not in RESULTS:
        raise InvalidInput("result must be allow or deny", code="invalid_field")
    delivered = args.get("delivered") or None
    if delivered is not None and delivered not in DELIVERED:
        raise InvalidInput("delivered must be true or false", code="invalid_field")
    org = args.get("org") or None
    org_id = int(org) if org is not None and org.isascii() and org.isdigit() else (
        get_org(session, org).id if org is not None else None)
    return DecisionFilter(since=time_field(args, "since") if args.get("since") else None,
                          until=time_field(args, "until") if args.get("until") else None,
                          org_id=org_id, allow=RESULTS[result] if result else None,
                          delivered=DELIVERED[delivered] if delivered else None, **values)


def api_filter(session: Session, args: Mapping[str, str]) -> DecisionFilter:
    """The filter of an API query string, where a parameter sent empty is a mistake (400), not
    "no filter" as from the admin page's form (which sends every field, filled or not)."""
    empty = sorted(name for name, value in args.items() if value == "")
    if empty:
        raise InvalidInput(f"query parameter {empty[0]!r} must not be empty", code="invalid_field")
    return filter_from_args(session, args)


@bp.get("/decisions")
@require_role("admin", "auditor")
def index() -> Response:
    limit_raw = request.args.get("limit", "100")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_PAGE:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="invalid_field")
    where = api_filter(current_session(), request.args)
    rows, cursor = list_decisions(current_session(), where, limit=int(limit_raw),
                                  cursor=request.args.get("cursor"))
    return jsonify({"decisions": rows, "next_cursor": cursor})
