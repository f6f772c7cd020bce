"""Governance API for sign-offs: an approver opens a model to a tier, the board reverses a sign-off
and releases the hold a reversal leaves.

The same service functions as the model page's forms (govern.admin.models), with the same roles:
nobody approves what they rated or reviewed (any account of theirs), a quorum of distinct
reviewers must recommend the tier, and after a reversal the hold holds until fresh reviews and the
board's release. `check_only` runs every rule of a sign-off without making it, as the UI's
confirmation step does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field, time_field
from govern.api.governance_models import (
    ANY_ROLE,
    MODEL,
    RATIONALE,
    TEXT,
    created,
    hold_json,
    model_state,
    named,
    sign_off_json,
    text,
)
from govern.api.ops import current_live_facts
from govern.errors import NotFound
from govern.extensions import current_session
from govern.governance.holds import hold_status, release_hold
from govern.governance.signoffs import all_sign_offs, check_sign_off, reverse_sign_off, sign_off
from govern.policy.store import current_document

bp = Blueprint("governance_signoffs", __name__, url_prefix="/v1/governance")

MAX_ID = 2**31 - 1


@bp.url_value_preprocessor
def _id_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    value = (values or {}).get("sign_off_id")
    if isinstance(value, int) and value > MAX_ID:
        raise NotFound(f"no sign-off {value}", code="sign_off_not_found")


@bp.get(f"{MODEL}/sign-offs")
@require_role(*ANY_ROLE)
def list_sign_offs(name: str) -> Response:
    return jsonify({"sign_offs": [sign_off_json(s) for s in all_sign_offs(current_session(), named(name))]})


@bp.post(f"{MODEL}/sign-offs")
@require_role("approver")
def sign(name: str) -> Response:
    body = json_body()
    session, model = current_session(), named(name)
    tier = text(body, "tier", 100)
    expires = time_field(body, "expires_at")
    if field(body, "check_only", bool, required=False, default=False):
        hold = check_sign_off(session, actor=g.actor, model=model, tier=tier, expires_at=expires,
                              facts=current_live_facts())
        return jsonify({"would_sign_off": True, "model": model.name, "version": model.version, "tier": tier,
                        "ends_hold": hold.id if hold is not None else None})
    signed = sign_off(session, actor=g.actor, model=model, tier=tier,
                      conditions=text(body, "conditions", TEXT, required=False), expires_at=expires,
                      facts=current_live_facts())
    return created(sign_off_json(signed))


@bp.post(f"{MODEL}/sign-offs/<int:sign_off_id>/reverse")
@require_role("board")
def reverse(name: str, sign_off_id: int) -> Response:
    model = named(name)
    signed = reverse_sign_off(current_session(), actor=g.actor, model=model, sign_off_id=sign_off_id,
                              rationale=text(json_body(), "rationale", RATIONALE))
    return jsonify({"sign_off": sign_off_json(signed), "model": model_state(model)})


@bp.post(f"{MODEL}/hold/release")
@require_role("board")
def release(name: str) -> Response:
    session, model = current_session(), named(name)
    release_hold(session, actor=g.actor, model=model, rationale=text(json_body(), "rationale", RATIONALE))
    return jsonify({"hold": hold_json(hold_status(session, model, current_document(session).tiers))})
