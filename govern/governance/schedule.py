"""When a deployed model is due for its scheduled re-review, and whether being overdue closes it.

A model signed off under a preset with `re_review_days` is due that many days after its sign-off,
or after the newest re-review under that sign-off recommending it continue. With the preset's
`close_when_overdue`, an overdue model is closed as an expired sign-off is."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.governance.presets import get_preset
from govern.models import GovernedModel, ReReview, SignOff
from govern.models.re_review import CONTINUE

# Due: the re-review falls within this many days; overdue: its day has passed.
DUE_WITHIN = timedelta(days=14)


def last_continue(session: Session, signed: SignOff, *, as_of: datetime | None = None) -> ReReview | None:
    """The newest re-review under `signed` recommending the model continue (made by `as_of`)."""
    query = select(ReReview).where(ReReview.sign_off_id == signed.id, ReReview.recommendation == CONTINUE)
    if as_of is not None:
        query = query.where(ReReview.created_at <= as_of)
    return session.execute(query.order_by(ReReview.id.desc()).limit(1)).scalar()


def due_at(session: Session, model: GovernedModel, signed: SignOff, *,
           as_of: datetime | None = None) -> datetime | None:
    """When the model signed off by `signed` is due for re-review; None when its preset schedules none."""
    days = get_preset(model.preset).re_review_days
    if days is None:
        return None
    last = last_continue(session, signed, as_of=as_of)
    return (last.created_at if last else signed.created_at) + timedelta(days=days)


def closes_at(session: Session, model: GovernedModel, signed: SignOff) -> datetime | None:
    """When being overdue closes the model; None when its preset does not close overdue models."""
    if not get_preset(model.preset).close_when_overdue:
        return None
    return due_at(session, model, signed)


def closed_by_overdue(session: Session, model: GovernedModel, signed: SignOff, now: datetime) -> bool:
    closing = closes_at(session, model, signed)
    return closing is not None and closing <= now
