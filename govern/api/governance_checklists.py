"""Governance API: a model's launch checklist (each item with its live check, run now) and its
scheduled re-reviews, under the same rules as the model page (the services decide)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.api.ops import current_live_facts
from govern.errors import InvalidInput
from govern.extensions import current_session
from govern.governance.checklists import MAX_EVIDENCE, checklist_state, update_item
from govern.governance.re_reviews import all_re_reviews, re_review_status, record_re_review
from govern.governance.registry import find_model
from govern.models.base import utcnow
from govern.models.re_review import ReReview
from govern.policy.store import current_document

bp = Blueprint("governance_checklists", __name__, url_prefix="/v1/governance")

READERS = ("admin", "reviewer", "approver", "board", "auditor")
MAX_NAME = 100


def _re_review(review: ReReview) -> dict[str, Any]:
    return {"id": review.id, "sign_off_id": review.sign_off_id, "reviewer": review.reviewer,
            "recommendation": review.recommendation, "rationale": review.rationale,
            "created_at": review.created_at.isoformat()}


@bp.get("/models/<string(maxlength=100):name>/checklist")
@require_role(*READERS)
def show_checklist(name: str) -> Response:
    """The newest version's checklist; the live checks run for `?tier=` (default: the lowest tier)."""
    session = current_session()
    model = find_model(session, name)
    tiers = current_document(session).tiers
    tier = request.args.get("tier") or tiers[0]
    if tier not in tiers:
        raise InvalidInput(f"unknown tier {tier[:MAX_NAME]!r}", code="unknown_tier")
    state = checklist_state(session, model, tier=tier, facts=current_live_facts())
    return jsonify({"model": model.name, "version": model.version, "checklist": state.checklist.name,
                    "title": state.checklist.title, "tier": tier, "complete": state.complete,
                    "items": [entry.as_dict() for entry in state.entries]})


@bp.put("/models/<string(maxlength=100):name>/checklist/<string(maxlength=100):item_id>")
@require_role("admin", "reviewer")
def put_item(name: str, item_id: str) -> Response:
    body = json_body()
    session = current_session()
    model = find_model(session, name)
    row = update_item(session, actor=g.actor, model=model, item_id=item_id,
                      state=field(body, "state", str, max_length=20),
                      owner=field(body, "owner", str, required=False, max_length=150),
                      evidence=field(body, "evidence", str, required=False, default="",
                                     max_length=MAX_EVIDENCE))
    return jsonify({"item": row.item_id, "state": row.state, "owner": row.owner, "evidence": row.evidence,
                    "updated_by": row.updated_by, "updated_at": row.updated_at.isoformat()})


@bp.get("/models/<string(maxlength=100):name>/re-reviews")
@require_role(*READERS)
def list_re_reviews(name: str) -> Response:
    session = current_session()
    model = find_model(session, name)
    status = re_review_status(session, model, utcnow())
    return jsonify({
        "model": model.name, "version": model.version,
        "schedule": None if status is None else {
            "sign_off_id": status.sign_off.id, "due_at": status.due_at.isoformat(), "state": status.state,
            "closes_access": status.closes_access},
        "re_reviews": [_re_review(review) for review in all_re_reviews(session, model)]})


@bp.post("/models/<string(maxlength=100):name>/re-reviews")
@require_role("reviewer")
def create_re_review(name: str) -> Response:
    body = json_body()
    session = current_session()
    review = record_re_review(session, actor=g.actor, model=find_model(session, name),
                              recommendation=field(body, "recommendation", str, max_length=20),
                              rationale=field(body, "rationale", str, max_length=10_000))
    response = jsonify(_re_review(review))
    response.status_code = 201
    return response
