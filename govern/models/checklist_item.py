"""One launch-checklist item of one model version: its owner, evidence and state.

A missing row is an open item with no owner. The checklist itself (ids, titles, live checks) is
configuration (policies/checklists/); these rows hold only what people recorded against it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

OPEN = "open"
DONE = "done"  # with evidence
NOT_APPLICABLE = "not_applicable"  # with a rationale
STATES = (OPEN, DONE, NOT_APPLICABLE)


class ChecklistItem(Base):
    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("model_id", "item_id", name="uq_checklist_item_model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"))
    item_id: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200))  # an actor, `user:<username>`
    state: Mapped[str] = mapped_column(String(20), default=OPEN)
    evidence: Mapped[str] = mapped_column(Text, default="")  # text or links; the rationale when N/A
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
