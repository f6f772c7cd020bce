"""What governance means for access, as plain facts for the policy snapshot: per governed model the
lowest tier it is open to, the sign-off that opens it and whether it is suspended or retired, plus
when the next sign-off expires (or an overdue re-review closes one). A name answers with its
newest version only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from govern.governance.registry import list_models
from govern.governance.schedule import closes_at
from govern.governance.scorecards import model_gate
from govern.governance.signoffs import sign_off_in_force
from govern.models.base import utcnow
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import current_snapshot
from govern.types import ModelAccess


def governance_access(session: Session, now: datetime) -> tuple[dict[str, ModelAccess], datetime | None]:
    """(model name -> access, time of the next expiry or None). A sign-off opens its model only while
    it is in force (not reversed, not expired, not held) and the scorecard is still deployable."""
    access: dict[str, ModelAccess] = {}
    next_expiry: datetime | None = None
    for model in list_models(session):
        if model.retired_at is not None:
            access[model.name] = ModelAccess(open_from=None, suspended=model.suspended, retired=True)
            continue
        signed = sign_off_in_force(session, model, now)
        opening = signed if signed is not None and model_gate(session, model).deployable else None
        if opening is not None and opening.expires_at is not None:
            next_expiry = min(next_expiry or opening.expires_at, opening.expires_at)
        closing = closes_at(session, model, opening) if opening is not None else None
        if closing is not None:  # an overdue re-review closes it as an expiry does
            next_expiry = min(next_expiry or closing, closing)
        access[model.name] = ModelAccess(open_from=opening.tier if opening else None,
                                         suspended=model.suspended,
                                         sign_off_id=opening.id if opening else None)
    return access, next_expiry


def live_snapshot(session: Session) -> PolicySnapshot:
    """The newest policy version with governance as it stands now: the rules `/v1/check` applies."""
    governed, _next_expiry = governance_access(session, utcnow())
    return current_snapshot(session, governed)
