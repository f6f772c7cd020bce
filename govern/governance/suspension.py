"""The kill switch: a suspended model answers deny to everyone, at once, until the suspension is lifted."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput
from govern.governance.changes import commit_change, model_target, note_change
from govern.governance.holds import hold_facts, start_hold
from govern.governance.presets import get_preset
from govern.identity.incident_holds import check_lift
from govern.models import AuditEvent, GovernedModel
from govern.models.governance_hold import SUSPENSION_LIFTED


def suspend_model(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    note_suspension(session, actor=actor, model=model, reason=reason)
    session.commit()


def note_suspension(session: Session, *, actor: str, model: GovernedModel, reason: str) -> AuditEvent:
    """suspend_model in the caller's transaction (an incident links it before committing); returns
    the audit event of the suspension."""
    if not reason.strip():
        raise InvalidInput("say why the model is suspended", code="missing_reason")
    if model.suspended:
        raise Conflict(f"{model.name} is already suspended", code="already_suspended")
    model.suspended, model.suspension_reason = True, reason.strip()
    return note_change(session, actor=actor, action="model.suspend", target=model_target(model.name),
                       before={"suspended": False},
                       after={"suspended": True, "reason": model.suspension_reason})


def lift_suspension(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    """Callers are answered by the policy and the sign-off again, unless the preset holds the model
    after a suspension: then, as after a reversal, it waits for a fresh quorum and a new sign-off.

    Raises Conflict (post_incident_review_required) while the suspension is held by an incident
    whose post-incident review lacks its quorum (govern.identity.incident_holds)."""
    if not reason.strip():
        raise InvalidInput("say why the suspension is lifted", code="missing_reason")
    if not model.suspended:
        raise Conflict(f"{model.name} is not suspended", code="not_suspended")
    check_lift(session, model_target(model.name))
    before = {"suspended": True, "reason": model.suspension_reason}
    model.suspended, model.suspension_reason = False, ""
    after: dict[str, object] = {"suspended": False, "reason": reason.strip()}
    if get_preset(model.preset).hold_after_suspension:
        after |= hold_facts(start_hold(session, actor=actor, model=model, cause=SUSPENSION_LIFTED))
    commit_change(session, actor=actor, action="model.lift_suspension", target=model_target(model.name),
                  before=before, after=after)
