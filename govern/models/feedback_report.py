"""A feedback or abuse report about one decision, sent by the client that made it or by a gateway
(POST /v1/feedback), and its triage: new, triaged, dismissed, or linked to an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

SUBJECTS = ("output", "prompt", "other")
CATEGORIES = ("abuse", "harmful_output", "jailbreak", "false_refusal", "privacy", "other")
NEW, TRIAGED, DISMISSED, LINKED = "new", "triaged", "dismissed", "linked"
STATES = (NEW, TRIAGED, DISMISSED, LINKED)
MAX_TEXT = 2000


class FeedbackReport(Base):
    __tablename__ = "feedback_report"
    __table_args__ = (
        # The per-key daily cap counts a key's reports since a time.
        Index("ix_feedback_report_reported_by_received_at", "reported_by", "received_at"),
        # The triage queue (by state) and the dashboard's counts per model.
        Index("ix_feedback_report_state_id", "state", "id"),
        Index("ix_feedback_report_model_received_at", "model", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(26))  # no foreign key, as for usage
    request_id: Mapped[str | None] = mapped_column(String(200))
    # Copied from the decision.
    model: Mapped[str | None] = mapped_column(String(200))
    org_id: Mapped[int | None]
    key_prefix: Mapped[str | None] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[str] = mapped_column(String(40))  # the reporting key's prefix
    reporter_kind: Mapped[str] = mapped_column(String(20))  # client or pep
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=NEW)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    triaged_by: Mapped[str | None] = mapped_column(String(200))
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    triage_note: Mapped[str] = mapped_column(Text, default="")
