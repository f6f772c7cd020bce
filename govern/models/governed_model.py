"""A model version under governance: who owns it, which Preparedness preset rates it, its kill switch.

`revision` counts scorecard changes: a Safety Advisory Group review and a sign-off are of one
revision, so a later rating change asks for fresh reviews.

One row per version: callers name the model, and the newest version of a name answers for it.
Registering a new version leaves the older rows, with their ratings, reviews and sign-offs, as they
were; `retired_at` closes a version to every tier (its records stay)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class GovernedModel(Base):
    __tablename__ = "governed_model"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_governed_model_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The model name callers send to /v1/check.
    # Looked up by name through the (name, version) unique index.
    name: Mapped[str] = mapped_column(String(100))
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
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[str | None] = mapped_column(String(200))
    retirement_reason: Mapped[str | None] = mapped_column(Text)
