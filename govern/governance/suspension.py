"""The kill switch: a suspended model answers deny to everyone, at once, until the suspension is lifted."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.holds import hold_facts, start_hold
from govern.governance.presets import get_preset
from govern.models import GovernedModel
from govern.models.governance_hold import SUSPENSION_LIFTED


def suspend_model(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    if not reason.strip():
        raise InvalidInput("say why the model is suspended", code="missing_reason")
    if model.suspended:
        raise Conflict(f"{model.name} is already suspended", code="already_suspended")
    model.suspended, model.suspension_reason = True, reason.strip()
    commit_change(session, actor=actor, action="model.suspend", target=model_target(model.name),
                  before={"suspended": False}, after={"suspended": True, "reason": model.suspension_reason})


def lift_suspension(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    """Callers are answered by the policy and the sign-off again, unless the preset holds the model
    after a suspension: then, as after a reversal, it waits for a fresh quorum and a new sign-off."""
    if not reason.strip():
        raise InvalidInput("say why the suspension is lifted", code="missing_reason")
    if not model.suspended:
        raise Conflict(f"{model.name} is not suspended", code="not_suspended")
    before = {"suspended": True, "reason": model.suspension_reason}
    model.suspended, model.suspension_reason = False, ""
    after: dict[str, object] = {"suspended": False, "reason": reason.strip()}
    if get_preset(model.preset).hold_after_suspension:
        after |= hold_facts(start_hold(session, actor=actor, model=model, cause=SUSPENSION_LIFTED))
    commit_change(session, actor=actor, action="model.lift_suspension", target=model_target(model.name),
                  before=before, after=after)
