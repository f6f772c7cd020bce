"""A model version under governance: who owns it, which Preparedness preset rates it, its kill switch.

`revision` counts scorecard changes: a Safety Advisory Group review and a sign-off are of one
revision, so a later rating change asks for fresh reviews."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class GovernedModel(Base):
    __tablename__ = "governed_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The model name callers send to /v1/check.
    name: Mapped[str] = mapped_column(String(100), unique=True)
    version: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(200))
    model_group: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    preset: Mapped[str] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(default=0)
    suspended: Mapped[bool] = mapped_column(default=False)
    suspension_reason: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
