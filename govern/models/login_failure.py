"""Failed sign-in attempts, counted in the database so every worker process sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class LoginFailure(Base):
    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), index=True)
    address: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
