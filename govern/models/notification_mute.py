"""An event type a person chose not to receive by e-mail (absent: they receive it)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base


class NotificationMute(Base):
    __tablename__ = "notification_mute"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(60), primary_key=True)
