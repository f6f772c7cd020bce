"""Admin API for trusted issuers (identity providers) and their ordered claim-to-tier rules."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from govern.api.auth import require_role
from govern.api.body import field, json_body
from govern.extensions import current_session
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


@bp.post("")
@require_role("admin")
def create() -> Response:
    config = issuers.create_issuer(current_session(), json_body(), actor=g.actor)
    response = jsonify({**config.as_dict(), "version": issuers.configuration_version(current_session())})
    response.status_code = 201
    return response


@bp.put("")
@require_role("admin")
def replace_all() -> Response:
    """The whole set at once, as in the config file: {"issuers": [...]}."""
    issuers.import_issuers(current_session(), field(json_body(), "issuers", list), actor=g.actor)
    return jsonify(_listing())


@bp.get("/<name>")
@require_role("admin", "auditor")
def show(name: str) -> Response:
    return jsonify(issuers.get_issuer(current_session(), name).as_dict())


@bp.put("/<name>")
@require_role("admin")
def replace(name: str) -> Response:
    config = issuers.replace_issuer(current_session(), name, json_body(), actor=g.actor)
    return jsonify({**config.as_dict(), "version": issuers.configuration_version(current_session())})


@bp.put("/<name>/rules")
@require_role("admin")
def replace_rules(name: str) -> Response:
    rules = field(json_body(), "rules", list)
    config = issuers.set_rules(current_session(), name, rules, actor=g.actor)
    return jsonify({**config.as_dict(), "version": issuers.configuration_version(current_session())})


@bp.delete("/<name>")
@require_role("admin")
def delete(name: str) -> Response:
    issuers.delete_issuer(current_session(), name, actor=g.actor)
    return Response(status=204)
