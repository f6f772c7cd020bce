"""Accounts of the people who administer, review, approve or audit; roles are a comma-separated
set. Each account belongs to one person (govern.models.person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    roles: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session's identity: signing out moves it on, so a copied cookie stops working.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(role for role in self.roles.split(",") if role)
