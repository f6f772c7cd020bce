"""Admin API for trusted issuers (identity providers) and their ordered claim-to-tier rules.

Adding or changing an issuer is guarded (it decides who is trusted, at which tier, in which role):
it answers 202 with a proposal while it waits for a second admin. Deleting one applies at once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from govern.api.admin_body import json_body
from govern.api.admin_proposals import propose
from govern.api.auth import require_role
from govern.api.body import field
from govern.errors import InvalidInput
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.identity import issuers

bp = Blueprint("admin_identity", __name__, url_prefix="/v1/admin/issuers")


def _listing() -> dict[str, object]:
    session = current_session()
    return {"version": issuers.configuration_version(session),
            "issuers": [i.as_dict() for i in issuers.list_issuers(session)]}


@bp.get("")
@require_role("admin", "auditor")
def index() -> Response:
    return jsonify(_listing())


def _applied(status: int) -> Any:
    def answer(result: dict[str, Any]) -> Response:
        response = jsonify(result)
        response.status_code = status
        return response

    return answer


def _document(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("an issuer must be an object", code="invalid_issuer")
    return body


@bp.post("")
@require_role("admin")
def create() -> Response:
    return propose(Change("issuer.set", {"create": True, "doc": _document(json_body())}), _applied(201))


@bp.put("")
@require_role("admin")
def replace_all() -> Response:
    """The whole set at once, as in the config file: {"issuers": [...]}."""
    docs = field(json_body(), "issuers", list)
    return propose(Change("issuer.import", {"issuers": docs}), lambda result: jsonify(_listing()))


@bp.get("/<name>")
@require_role("admin", "auditor")
def show(name: str) -> Response:
    return jsonify(issuers.get_issuer(current_session(), name).as_dict())


@bp.put("/<name>")
@require_role("admin")
def replace(name: str) -> Response:
    issuers.get_issuer(current_session(), name)  # 404 for an unknown issuer, as before
    doc = _document(json_body())
    if doc.get("name", name) != name:
        raise InvalidInput("an issuer keeps its name; delete it and add a new one to rename",
                           code="invalid_issuer")
    return propose(Change("issuer.set", {"name": name, "doc": doc}), _applied(200))


@bp.put("/<name>/rules")
@require_role("admin")
def replace_rules(name: str) -> Response:
    rules = field(json_body(), "rules", list)
    doc = {**issuers.get_issuer(current_session(), name).as_dict(), "rules": rules}
    return propose(Change("issuer.set", {"name": name, "doc": doc}), _applied(200))


@bp.delete("/<name>")
@require_role("admin")
def delete(name: str) -> Response:
    issuers.delete_issuer(current_session(), name, actor=g.actor)
    return Response(status=204)
