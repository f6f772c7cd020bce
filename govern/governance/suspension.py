"""The kill switch: a suspended model answers deny to everyone, at once, until the suspension is lifted."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.models import GovernedModel


def suspend_model(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    if not reason.strip():
        raise InvalidInput("say why the model is suspended", code="missing_reason")
    if model.suspended:
        raise Conflict(f"{model.name} is already suspended", code="already_suspended")
    model.suspended, model.suspension_reason = True, reason.strip()
    commit_change(session, actor=actor, action="model.suspend", target=model_target(model.name),
                  before={"suspended": False}, after={"suspended": True, "reason": model.suspension_reason})


def lift_suspension(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    if not reason.strip():
        raise InvalidInput("say why the suspension is lifted", code="missing_reason")
    if not model.suspended:
        raise Conflict(f"{model.name} is not suspended", code="not_suspended")
    before = {"suspended": True, "reason": model.suspension_reason}
    model.suspended, model.suspension_reason = False, ""
    commit_change(session, actor=actor, action="model.lift_suspension", target=model_target(model.name),
                  before=before, after={"suspended": False, "reason": reason.strip()})
