"""A Safety Advisory Group reviewer's recommendation on one scorecard revision of a model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

OPEN = "open"  # open the model to `tier` and every tier above
REJECT = "reject"
MITIGATE = "mitigate"  # require further mitigations first
RECOMMENDATIONS = (OPEN, REJECT, MITIGATE)


class SafetyReview(Base):
    __tablename__ = "safety_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    recommendation: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str | None] = mapped_column(String(100))
    rationale: Mapped[str] = mapped_column(Text)
    revision: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
