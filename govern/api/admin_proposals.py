"""Admin API for proposals: guarded changes waiting for a second admin. A guarded request anywhere
in the admin API answers 202 with its proposal (see `answer`); here they are listed and decided."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.extensions import current_session
from govern.governance import proposals
from govern.governance.proposal_kinds import Change

bp = Blueprint("admin_proposals", __name__, url_prefix="/v1/admin/proposals")

PROPOSAL_ID = "<int(max=2147483647):proposal_id>"
ACCEPTED = 202


def _json(payload: dict[str, Any], status: int) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def propose(change: Change, applied: Callable[[dict[str, Any]], Response]) -> Response:
    """Submit a guarded change for the calling admin: 202 and the proposal while it waits for a
    second admin, or `applied(result)` when it applied at once."""
    outcome = proposals.submit(current_session(), change, actor=g.actor)
    if outcome.applied:
        assert outcome.result is not None
        return applied(outcome.result)
    assert outcome.proposal is not None
    return _json({**outcome.proposal.as_dict(),
                  "note": "proposed: the change waits for a second admin to approve it"}, ACCEPTED)


def _reason() -> str:
    reason: str = field(json_body(optional=True), "reason", str, required=False, default="",
                 max_length=proposals.MAX_REASON)
    return reason


@bp.get("")
@require_role("admin", "auditor")
def index() -> Response:
    state = request.args.get("state") or None
    listed = proposals.list_proposals(current_session(), state)
    return jsonify({"single_admin": proposals.single_admin(current_session()),
                    "proposals": [p.as_dict() for p in listed]})


@bp.get(f"/{PROPOSAL_ID}")
@require_role("admin", "auditor")
def show(proposal_id: int) -> Response:
    return jsonify(proposals.get_proposal(current_session(), proposal_id).as_dict())


@bp.post(f"/{PROPOSAL_ID}/approve")
@require_role("admin")
def approve(proposal_id: int) -> Response:
    outcome = proposals.approve(current_session(), proposal_id, actor=g.actor, reason=_reason())
    assert outcome.proposal is not None
    # The applied change's result: a key made by the approval is shown here, once.
    return jsonify({**outcome.proposal.as_dict(), "result": outcome.result})


@bp.post(f"/{PROPOSAL_ID}/reject")
@require_role("admin")
def reject(proposal_id: int) -> Response:
    return jsonify(proposals.reject(current_session(), proposal_id, actor=g.actor,
                                    reason=_reason()).as_dict())


@bp.post(f"/{PROPOSAL_ID}/withdraw")
@require_role("admin")
def withdraw(proposal_id: int) -> Response:
    return jsonify(proposals.withdraw(current_session(), proposal_id, actor=g.actor,
                                      reason=_reason()).as_dict())
