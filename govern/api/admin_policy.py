"""Admin API for the policy: the whole document, tiers, capabilities, model groups, grants, blocks.

Every change is validated whole and stored as a new policy version; a refused change stores nothing.
A policy change is guarded: it answers 202 with a proposal while it waits for a second admin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify

from govern.api.admin_body import json_body
from govern.api.admin_proposals import propose
from govern.api.auth import require_role
from govern.api.body import field
from govern.decisions.impact import DEFAULT_DAYS, policy_impact
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.policy import edits
from govern.policy.diff import diff_policies
from govern.policy.document import Grant, PolicyDocument, parse_document
from govern.policy.store import current_document, current_policy, edited_document

bp = Blueprint("admin_policy", __name__, url_prefix="/v1/admin")


def _proposed(document: PolicyDocument, model_conf: str, comment: str, status: int = 200,
              **extra: str) -> Response:
    def applied(result: dict[str, Any]) -> Response:
        response = jsonify({**result, **extra})
        response.status_code = status
        return response

    payload = {"document": document.as_dict(), "model_conf": model_conf, "comment": comment}
    return propose(Change("policy.replace", payload), applied)


def _changed(edit: Callable[[dict[str, Any]], None], comment: str, status: int = 200,
             **extra: str) -> Response:
    session = current_session()
    return _proposed(edited_document(session, edit), current_policy(session).model_conf, comment,
                     status, **extra)


@bp.get("/policy")
@require_role("admin", "auditor")
def show_policy() -> Response:
    row = current_policy(current_session())
    return jsonify({"policy_version": row.version, "document": row.document,
                    "model_conf": row.model_conf, "created_at": row.created_at.isoformat(),
                    "actor": row.actor, "comment": row.comment})


@bp.put("/policy")
@require_role("admin")
def replace_policy() -> Response:
    body = json_body()
    document = parse_document(field(body, "document", dict))
    session = current_session()
    model_conf = field(body, "model_conf", str, required=False) or current_policy(session).model_conf
    comment = field(body, "comment", str, required=False, default="replaced through the admin API")
    return _proposed(document, model_conf, comment)


@bp.get("/tiers")
@require_role("admin", "auditor")
def list_tiers() -> Response:
    tiers = current_document(current_session()).tiers
    return jsonify({"tiers": [{"name": name, "rank": rank} for rank, name in enumerate(tiers)]})


@bp.post("/tiers")
@require_role("admin")
def create_tier() -> Response:
    body = json_body()
    name = field(body, "name", str, max_length=100)
    below = field(body, "below", str, required=False)
    return _changed(lambda raw: edits.add_tier(raw, name, below), f"add tier {name}", 201)


@bp.delete("/tiers/<name>")
@require_role("admin")
def delete_tier(name: str) -> Response:
    return _changed(lambda raw: edits.remove_tier(raw, name), f"remove tier {name}")


@bp.get("/capabilities")
@require_role("admin", "auditor")
def list_capabilities() -> Response:
    return jsonify({"capabilities": current_policy(current_session()).document["capabilities"]})


@bp.post("/capabilities")
@require_role("admin")
def create_capability() -> Response:
    name = field(json_body(), "name", str, max_length=100)
    return _changed(lambda raw: edits.add_capability(raw, name), f"add capability {name}", 201)


@bp.delete("/capabilities/<name>")
@require_role("admin")
def delete_capability(name: str) -> Response:
    return _changed(lambda raw: edits.remove_capability(raw, name), f"remove capability {name}")


@bp.get("/model-groups")
@require_role("admin", "auditor")
def list_model_groups() -> Response:
    return jsonify({"model_groups": current_policy(current_session()).document["model_groups"]})


@bp.put("/model-groups/<name>")
@require_role("admin")
def put_model_group(name: str) -> Response:
    models = field(json_body(), "models", list)
    return _changed(lambda raw: edits.set_model_group(raw, name, models), f"set model group {name}")


@bp.delete("/model-groups/<name>")
@require_role("admin")
def delete_model_group(name: str) -> Response:
    return _changed(lambda raw: edits.remove_model_group(raw, name), f"remove model group {name}")


@bp.get("/grants")
@require_role("admin", "auditor")
def list_grants() -> Response:
    document = current_document(current_session())
    return jsonify({"grants": [{"id": grant.id, **grant.as_dict(), "effect": grant.effect}
                               for grant in document.grants]})


@bp.post("/grants")
@require_role("admin")
def create_grant() -> Response:
    body = json_body()
    grant = Grant(
        tier=field(body, "tier", str, max_length=100),
        target=field(body, "target", str, max_length=200),
        capability=field(body, "capability", str, max_length=100),
        effect=field(body, "effect", str, required=False, default="allow"),
    )
    return _changed(lambda raw: edits.add_grant(raw, grant), f"add grant {grant.id}", 201,
                    id=grant.id)


@bp.delete("/grants/<grant_id>")
@require_role("admin")
def delete_grant(grant_id: str) -> Response:
    return _changed(lambda raw: edits.remove_grant(raw, grant_id), f"remove grant {grant_id}")


@bp.put("/blocked-models/<model>")
@require_role("admin")
def block_model(model: str) -> Response:
    return _changed(lambda raw: edits.block_model(raw, model), f"block model {model}")


@bp.delete("/blocked-models/<model>")
@require_role("admin")
def unblock_model(model: str) -> Response:
    return _changed(lambda raw: edits.unblock_model(raw, model), f"unblock model {model}")


def _draft() -> tuple[PolicyDocument, str, dict[str, Any]]:
    body = json_body()
    document = parse_document(field(body, "document", dict))
    model_conf = (field(body, "model_conf", str, required=False)
                  or current_policy(current_session()).model_conf)
    return document, model_conf, body


@bp.post("/policy/diff")
@require_role("admin")
def diff_policy() -> Response:
    """What a draft document (and Casbin model) changes relative to the live policy; stores nothing."""
    document, model_conf, _ = _draft()
    row = current_policy(current_session())
    diff = diff_policies(parse_document(row.document), document, row.model_conf, model_conf)
    return jsonify({"policy_version": row.version, "diff": diff.as_dict()})


@bp.post("/policy/impact")
@require_role("admin")
def policy_impact_preview() -> Response:
    """How the logged policy answers of the last `days` days would change under a draft; stores nothing."""
    document, model_conf, body = _draft()
    days = field(body, "days", int, required=False, default=DEFAULT_DAYS)
    impact = policy_impact(current_session(), document, days=days, model_conf=model_conf)
    return jsonify(impact.as_dict())
