"""The outbox's bookkeeping: how far the dispatchers have read the audit trail (the trail itself is
the outbox, see govern.notifications.outbox), and the time-based events already emitted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

AUDIT_CURSOR = "audit_cursor"


class NotificationCursor(Base):
    __tablename__ = "notification_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)


class NotificationMark(Base):
    """A time-based event already emitted, e.g. `signoff.expiring:model:m:<expiry>`: the key is
    unique, so two scans never emit it twice."""

    __tablename__ = "notification_mark"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
