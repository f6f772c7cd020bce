"""A guarded change waiting for a second admin (or already decided): what it is, who asked, who
decided, and how it was applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

PENDING = "pending"
APPLIED = "applied"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STATES = (PENDING, APPLIED, REJECTED, WITHDRAWN)

# How an applied proposal got applied.
TWO_PERSON = "two_person"
SINGLE_PERSON = "single_person"
BREAK_GLASS = "break_glass"


class Proposal(Base):
    __tablename__ = "proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The state of the target when proposed: approval refuses a proposal whose target moved since.
    base: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    diff: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    proposer: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    route: Mapped[str | None] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
