"""Admin API for organisations and their API keys.

Raising an organisation's tier (or making one above the lowest tier), raising or lifting a key's
tier cap and making an enforcement-point key are guarded: they answer 202 with a proposal while
they wait for a second admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from govern.api.admin_body import json_body
from govern.api.admin_proposals import propose
from govern.api.auth import require_role
from govern.api.body import field, time_field
from govern.errors import InvalidInput, NotFound
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.identity import keys, organisations
from govern.identity.keys import IssuedKey
from govern.models.api_key import CLIENT, PEP
from govern.models.base import utcnow

bp = Blueprint("admin_principals", __name__, url_prefix="/v1/admin")

ORG_ID = "<int:org_id>"
# Ids past a 32-bit integer column are no organisation (404), not a database error. Checked here
# rather than by the route converter: one refusing a value makes the router answer 405 for the
# path's other methods.
MAX_ORG_ID = 2**31 - 1


@bp.url_value_preprocessor
def _org_id_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    org_id = (values or {}).get("org_id")
    if isinstance(org_id, int) and org_id > MAX_ORG_ID:
        raise NotFound(f"no organisation {org_id!r}", code="org_not_found")


def _created(payload: dict[str, object]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


NOTE = "store the key now: it is shown only once"


def _issued(issued: IssuedKey) -> Response:
    return _created({"key": issued.secret, **issued.info.as_dict(), "note": NOTE})


@bp.get("/organisations")
@require_role("admin", "auditor")
def list_organisations() -> Response:
    return jsonify({"organisations": [o.as_dict() for o in organisations.list_orgs(current_session())]})


@bp.post("/organisations")
@require_role("admin")
def create_organisation() -> Response:
    body = json_body()
    payload = {"name": field(body, "name", str, max_length=200),
               "tier": field(body, "tier", str, max_length=100)}
    return propose(Change("org.tier", payload), _created)


@bp.get(f"/organisations/{ORG_ID}")
@require_role("admin", "auditor")
def show_organisation(org_id: int) -> Response:
    return jsonify(organisations.get_org(current_session(), org_id).as_dict())


@bp.patch(f"/organisations/{ORG_ID}")
@require_role("admin")
def update_organisation(org_id: int) -> Response:
    body = json_body()
    # null would read as "unchanged": refused, like any other value of the wrong type.
    payload = {"org_id": org_id,
               "name": field(body, "name", str, required=False, nullable=False, max_length=200),
               "tier": field(body, "tier", str, required=False, nullable=False, max_length=100),
               "suspended": field(body, "suspended", bool, required=False, nullable=False)}
    return propose(Change("org.tier", payload), jsonify)


@bp.delete(f"/organisations/{ORG_ID}")
@require_role("admin")
def delete_organisation(org_id: int) -> Response:
    organisations.delete_org(current_session(), org_id, actor=g.actor)
    return Response(status=204)


@bp.get("/keys")
@require_role("admin", "auditor")
def list_keys() -> Response:
    org = request.args.get("organisation")
    listed = keys.list_keys(current_session(), int(org) if org and org.isdigit() else org)
    return jsonify({"keys": [k.as_dict() for k in listed]})


@bp.post("/keys")
@require_role("admin")
def create_key() -> Response:
    body = json_body()
    kind = field(body, "kind", str, required=False, default=CLIENT)
    name = field(body, "name", str, required=False, default="", max_length=200)
    if kind == PEP:
        expires = time_field(body, "expires_at")
        payload = {"name": name, "expires_at": expires.isoformat() if expires else None}
        return propose(Change("key.pep", payload), lambda result: _created({**result, "note": NOTE}))
    if kind != CLIENT:
        raise InvalidInput("kind must be client or pep (admin keys are made with a user)",
                           code="invalid_field")
    org = field(body, "organisation", (int, str))
    return _issued(keys.issue_key(
        current_session(), actor=g.actor, org=org, name=name,
        tier_cap=field(body, "tier_cap", str, required=False, max_length=100),
        expires_at=time_field(body, "expires_at"),
    ))


@bp.get("/keys/<prefix>")
@require_role("admin", "auditor")
def show_key(prefix: str) -> Response:
    return jsonify(keys.get_key(current_session(), prefix).as_dict())


@bp.patch("/keys/<prefix>")
@require_role("admin")
def update_key(prefix: str) -> Response:
    body = json_body()
    expires = time_field(body, "expires_at")
    keys.get_key(current_session(), prefix)  # 404 for an unknown key
    payload = {"prefix": prefix, "name": field(body, "name", str, required=False, max_length=200),
               "tier_cap": field(body, "tier_cap", str, required=False, max_length=100),
               "clear_tier_cap": "tier_cap" in body and body["tier_cap"] is None,
               "suspended": field(body, "suspended", bool, required=False),
               "expires_at": expires.isoformat() if expires else None}
    return propose(Change("key.cap", payload), jsonify)


@bp.post("/keys/<prefix>/revoke")
@bp.delete("/keys/<prefix>")
@require_role("admin")
def revoke_key(prefix: str) -> Response:
    return jsonify(keys.revoke_key(current_session(), prefix, actor=g.actor).as_dict())


@bp.post("/keys/<prefix>/rotate")
@require_role("admin")
def rotate_key(prefix: str) -> Response:
    body = json_body(optional=True)
    until = time_field(body, "old_valid_until")
    if until is None:
        seconds = field(body, "overlap_seconds", int, required=False, default=0)
        try:
            until = utcnow() + timedelta(seconds=seconds)
        except OverflowError:
            raise InvalidInput("overlap_seconds reaches past the calendar",
                               code="invalid_field") from None
    return _issued(keys.rotate_key(current_session(), prefix, actor=g.actor, old_valid_until=until))
