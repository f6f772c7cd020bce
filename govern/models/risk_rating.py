"""One rating of one tracked category of a model; the newest per category is the scorecard, the
rest is its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class RiskRating(Base):
    __tablename__ = "risk_rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    category: Mapped[str] = mapped_column(String(100))
    pre_level: Mapped[str] = mapped_column(String(40))
    post_level: Mapped[str] = mapped_column(String(40))
    evidence: Mapped[str] = mapped_column(Text, default="")
    links: Mapped[str] = mapped_column(Text, default="")
    rater: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
