"""A hold on signing a model off again: started by the board's reversal of a sign-off (or by lifting
a suspension, when the model's preset asks for it), ended by the next sign-off.

While a hold is open, only reviews with an id above `last_review_id` count towards the quorum, and
the preset may ask for a board member's release first; a sign-off made before the hold is not in
force."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

REVERSAL = "reversal"
SUSPENSION_LIFTED = "suspension_lifted"


class GovernanceHold(Base):
    __tablename__ = "governance_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    cause: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(200))
    # The newest review of the model when the hold started: reviews up to it no longer count.
    last_review_id: Mapped[int] = mapped_column(default=0)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_rationale: Mapped[str | None] = mapped_column(Text)
    ended_by_sign_off_id: Mapped[int | None] = mapped_column(ForeignKey("sign_off.id"))
