"""What an allowed call used, as its gateway or model server reported it: one row per decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow


class Usage(Base):
    __tablename__ = "usage"
    # Budgets add up an organisation's usage over a time range of decision ids.
    __table_args__ = (Index("ix_usage_org_id_id", "org_id", "decision_id"),)

    # The decision's id. No foreign key, as in the decision log itself: a purge removes both.
    decision_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    # Copied from the decision, so that budgets read this table alone.
    org_id: Mapped[int | None]
    key_prefix: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    # In billionths of the currency unit (GOVERN_CURRENCY), as an integer: exact on every database
    # (SQLite has no decimal type) and summed exactly by the budgets that read it.
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger)
    # The visible prefix of the key that reported it (a pep key, or the client's own).
    reported_by: Mapped[str] = mapped_column(String(40))
    # That key's kind (pep or client): a gateway's report replaces the client's own, never the reverse.
    reporter_kind: Mapped[str] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
