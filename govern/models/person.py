"""A person: the one human behind any number of accounts (a local account, SSO identities).

Separation of duties compares people, so every account belongs to exactly one person. Disabling a
person stops every one of their accounts, sessions and admin keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Lower-case, and only an address an admin set or an authoritative issuer vouched for: it is
    # what an authoritative issuer links new identities by, so an asserted address never lands here.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
