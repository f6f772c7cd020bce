"""A request for wider access (a tier, a model, a capability) by an organisation or an identity,
and what became of it: rejected, or granted until `expires_at`.

A grant is in force while `now < expires_at`; nothing has to run for it to end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

PENDING = "pending"
GRANTED = "granted"
REJECTED = "rejected"
STATES = (PENDING, GRANTED, REJECTED)

TIER = "tier"
MODEL = "model"
CAPABILITY = "capability"
KINDS = (TIER, MODEL, CAPABILITY)


class AccessRequest(Base):
    __tablename__ = "access_request"
    __table_args__ = (
        # The decision runtime loads the grants in force: granted rows by expiry.
        Index("ix_access_request_state_expires", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who asks: an organisation (through one of its client keys), or an identity (issuer + subject).
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"),
                                               index=True)
    issuer: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    requested_by: Mapped[str] = mapped_column(String(300))  # the actor: key:<prefix>, identity:...
    kind: Mapped[str] = mapped_column(String(20))
    # The tier the holder decides as while the grant is in force: everywhere (kind tier), for one
    # model (kind model) or for one capability of one model (kind capability).
    tier: Mapped[str] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    capability: Mapped[str | None] = mapped_column(String(100))
    justification: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[int]
    # The deny that led to the request (no foreign key: the log outlives its rows).
    denied_decision_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    # The two-person proposal that approves it (while a second admin is awaited, and after).
    proposal_id: Mapped[int | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When an expiry was seen and written to the audit trail (the grant ended at expires_at).
    expiry_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
