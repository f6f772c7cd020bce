"""A scheduled re-review of a deployed model: a reviewer's recommendation to continue or close,
made under one sign-off (the clock restarts from a `continue`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

CONTINUE = "continue"
CLOSE = "close"
RE_REVIEW_RECOMMENDATIONS = (CONTINUE, CLOSE)


class ReReview(Base):
    __tablename__ = "re_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    sign_off_id: Mapped[int] = mapped_column(ForeignKey("sign_off.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    recommendation: Mapped[str] = mapped_column(String(20))
    rationale: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
