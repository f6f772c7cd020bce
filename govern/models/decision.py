"""The decision log: one row per answered access check, allow, deny or unauthenticated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, column, false, text, true
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime

_UNDELIVERED = column("delivered") == false()


class Decision(Base):
    __tablename__ = "decision"
    # Each index costs every group commit of the decision log, so each serves an explorer filter
    # (tests/decisions/test_decision_indexes.py checks the plans); time windows, the dashboard's
    # counts and purges walk the primary key, as decision ids begin with their time.
    __table_args__ = (
        Index("ix_decision_key_prefix_id", "key_prefix", "decision_id"),
        Index("ix_decision_model_id", "model", "decision_id"),
        Index("ix_decision_subject_id", "issuer", "subject", "decision_id"),
        # The explorer pages by decision_id within one filter value (migration 0004).
        Index("ix_decision_org_id_id", "org_id", "decision_id"),
        Index("ix_decision_tier_id", "tier", "decision_id"),
        Index("ix_decision_capability_id", "capability", "decision_id"),
        Index("ix_decision_reason_id", "reason", "decision_id"),
        # The explorer's "not delivered" filter (migration 0011). Partial: it holds only the rare
        # marked rows, so an ordinary group commit adds nothing to it, and the filter still finds
        # them among millions without walking the table.
        Index("ix_decision_undelivered", "decision_id", sqlite_where=_UNDELIVERED,
              postgresql_where=_UNDELIVERED),
    )

    # Time-ordered (ULID), so it doubles as the pagination cursor.
    decision_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(200))
    org_id: Mapped[int | None]
    key_prefix: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    capability: Mapped[str | None] = mapped_column(String(100))
    allow: Mapped[bool]
    reason: Mapped[str] = mapped_column(String(60))
    policy_version: Mapped[int | None]
    latency_us: Mapped[int]
    # The enforcement point that asked about this subject through AuthZEN (None on /v1/check).
    pep_prefix: Mapped[str | None] = mapped_column(String(40))
    # Set for decisions about an identity from a trusted issuer (bearer JWT) instead of a key.
    issuer: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    # The governance state it was made under (migration 0009): the organisation's name then, and the
    # sign-off in force for the model (None: none). No foreign key: the log outlives what it names.
    org_name: Mapped[str | None] = mapped_column(String(200))
    sign_off_id: Mapped[int | None]
    # How many refused unauthenticated attempts the row stands for (migration 0010): 1 but for the
    # aggregate rows of a source past its allowance (govern.decisions.refusals).
    attempts: Mapped[int] = mapped_column(server_default=text("1"), default=1)
    # False when the request answered 503 after its commit was already under way and the row
    # landed anyway: nobody received this decision (migration 0011; see docs/operations.md).
    delivered: Mapped[bool] = mapped_column(server_default=true())
