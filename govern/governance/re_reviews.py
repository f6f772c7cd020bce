"""Scheduled re-reviews of deployed models: recording one, and where each deployed model stands
(scheduled, due within DUE_WITHIN, overdue). See schedule.py for the dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.presets import get_preset
from govern.governance.reviews import SEPARATION_OF_DUTIES
from govern.governance.schedule import DUE_WITHIN, due_at
from govern.governance.scorecards import current_raters
from govern.governance.signoffs import deployed_sign_off
from govern.identity.people import is_among
from govern.models import GovernedModel, ReReview, SignOff
from govern.models.base import utcnow
from govern.models.re_review import CLOSE, RE_REVIEW_RECOMMENDATIONS

SCHEDULED, DUE, OVERDUE = "scheduled", "due", "overdue"


@dataclass(frozen=True)
class ReReviewStatus:
    sign_off: SignOff
    due_at: datetime
    state: str  # SCHEDULED, DUE or OVERDUE
    closes_access: bool  # overdue closes the model (the preset's close_when_overdue)
    last: ReReview | None  # the newest re-review under this sign-off, whatever it recommended

    @property
    def recommends_closing(self) -> bool:
        return self.last is not None and self.last.recommendation == CLOSE


def re_review_status(session: Session, model: GovernedModel, now: datetime) -> ReReviewStatus | None:
    """Where the deployed model's re-review stands; None when it is not deployed or its preset
    schedules no re-reviews."""
    signed = deployed_sign_off(session, model, now)
    due = due_at(session, model, signed) if signed is not None else None
    if signed is None or due is None:
        return None
    state = OVERDUE if due <= now else DUE if due - now <= DUE_WITHIN else SCHEDULED
    last = session.execute(select(ReReview).where(ReReview.sign_off_id == signed.id)
                           .order_by(ReReview.id.desc()).limit(1)).scalar()
    return ReReviewStatus(signed, due, state, get_preset(model.preset).close_when_overdue, last)


def record_re_review(session: Session, *, actor: str, model: GovernedModel, recommendation: str,
                     rationale: str, now: datetime | None = None) -> ReReview:
    """A reviewer's re-review of the deployed model: `continue` restarts its schedule, `close`
    recommends the board reverse the sign-off (the schedule keeps running). Separation of duties as
    for reviews: nobody re-reviews what they rated, nor what they signed off.

    Raises InvalidInput, Conflict (not deployed), Forbidden (separation of duties)."""
    now = now or utcnow()
    if recommendation not in RE_REVIEW_RECOMMENDATIONS:
        raise InvalidInput(f"recommendation must be one of {', '.join(RE_REVIEW_RECOMMENDATIONS)}",
                           code="unknown_recommendation")
    if not rationale.strip():
        raise InvalidInput("a rationale is required", code="missing_rationale")
    signed = deployed_sign_off(session, model, now)
    if signed is None:
        raise Conflict(f"{model.name} {model.version} is not deployed: no sign-off is in force to re-review",
                       code="not_deployed")
    if is_among(session, actor, current_raters(session, model)):
        raise Forbidden("separation of duties: you rated this model, so you cannot re-review it",
                        code=SEPARATION_OF_DUTIES)
    if is_among(session, actor, [signed.approver]):
        raise Forbidden("separation of duties: you signed this model off, so you cannot re-review it",
                        code=SEPARATION_OF_DUTIES)
    was_due = due_at(session, model, signed)
    review = ReReview(model_id=model.id, sign_off_id=signed.id, reviewer=actor, recommendation=recommendation,
                      rationale=rationale.strip(), created_at=now)
    session.add(review)
    session.flush()
    commit_change(session, actor=actor, action="model.re_review", target=model_target(model.name),
                  after={"id": review.id, "sign_off_id": signed.id, "version": model.version,
                         "recommendation": recommendation, "rationale": review.rationale,
                         "was_due_at": was_due.isoformat() if was_due else None,
                         "next_due_at": (n.isoformat() if (n := due_at(session, model, signed)) else None)})
    return review


def all_re_reviews(session: Session, model: GovernedModel) -> list[ReReview]:
    """Every re-review of the model version, newest first."""
    return list(session.execute(select(ReReview).where(ReReview.model_id == model.id)
                                .order_by(ReReview.id.desc())).scalars())
