"""An incident: what happened (title, severity, description, what it affects), its state, the
actions taken for it (kill switch, key and organisation suspensions, revocations) and the
post-incident review by a quorum of reviewers.

Its timeline is the audit trail of target `incident:<id>`: every change and note is an event there.
A suspension linked with `holds` set is lifted only once `reviewed_at` is set, i.e. once
`review_quorum` distinct people have recorded the post-incident review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")  # sev1 is the most severe
OPEN, MITIGATED, RESOLVED, CLOSED = "open", "mitigated", "resolved", "closed"
STATES = (OPEN, MITIGATED, RESOLVED, CLOSED)


class Incident(Base):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default=OPEN, index=True)
    # Names as people give them: model names, organisation names, key prefixes.
    affected_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    affected_orgs: Mapped[list[str]] = mapped_column(JSON, default=list)
    affected_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Distinct reviewers the post-incident review needs (the highest quorum of the affected models' presets).
    review_quorum: Mapped[int] = mapped_column(default=2)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IncidentAction(Base):
    """An action taken for an incident: the audit event that made it and whom it concerns."""

    __tablename__ = "incident_action"
    __table_args__ = (Index("ix_incident_action_target_holds", "target", "holds"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # model.suspend, key.suspend, key.revoke, org.suspend
    target: Mapped[str] = mapped_column(String(300))  # model:<name>, key:<prefix>, org:<id>
    audit_event_id: Mapped[int | None]
    # A suspension in force when linked: lifting it waits for the post-incident review.
    holds: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentReview(Base):
    """One reviewer's post-incident review."""

    __tablename__ = "incident_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    findings: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
