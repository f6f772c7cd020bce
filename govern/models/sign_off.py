"""A leadership sign-off opening a model to a tier, and the board's reversal of it.

Only a model's newest sign-off counts; it stops counting when reversed or expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class SignOff(Base):
    __tablename__ = "sign_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(100))
    conditions: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversed_by: Mapped[str | None] = mapped_column(String(200))
    reversal_rationale: Mapped[str | None] = mapped_column(Text)
