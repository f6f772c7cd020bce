"""A notification event: one event type derived from one audit event, with the stable id every
delivery of it carries (Standard Webhooks' `webhook-id`, the same on each retry and replay)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime


class NotificationEvent(Base):
    __tablename__ = "notification_event"
    # An audit event yields each of its types once, however many dispatchers read it.
    __table_args__ = (UniqueConstraint("audit_event_id", "type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id"))
    type: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
