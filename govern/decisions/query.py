"""Reading the decision log: filters and cursor pagination, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import Decision

MAX_PAGE = 1_000


@dataclass(frozen=True)
class DecisionFilter:
    since: datetime | None = None
    until: datetime | None = None
    key_prefix: str | None = None
    model: str | None = None
    capability: str | None = None
    allow: bool | None = None
    issuer: str | None = None
    subject: str | None = None


def decision_dict(row: Decision) -> dict[str, Any]:
    return {
        "decision_id": row.decision_id, "created_at": row.created_at.isoformat(),
        "request_id": row.request_id, "org_id": row.org_id, "key_prefix": row.key_prefix,
        "tier": row.tier, "model": row.model, "capability": row.capability, "allow": row.allow,
        "reason": row.reason, "policy_version": row.policy_version, "latency_us": row.latency_us,
        "pep_prefix": row.pep_prefix,
        "issuer": row.issuer, "subject": row.subject,
    }


def list_decisions(session: Session, where: DecisionFilter, *, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of decisions and the cursor of the next page (None on the last page)."""
    query = select(Decision).order_by(Decision.decision_id.desc()).limit(min(limit, MAX_PAGE) + 1)
    if cursor:
        query = query.where(Decision.decision_id < cursor)
    if where.since:
        query = query.where(Decision.created_at >= where.since)
    if where.until:
        query = query.where(Decision.created_at < where.until)
    for column, value in ((Decision.key_prefix, where.key_prefix), (Decision.model, where.model),
                          (Decision.capability, where.capability), (Decision.allow, where.allow),
                          (Decision.issuer, where.issuer), (Decision.subject, where.subject)):
        if value is not None:
            query = query.where(column == value)
    rows = list(session.execute(query).scalars())
    page = rows[: min(limit, MAX_PAGE)]
    next_cursor = page[-1].decision_id if len(rows) > len(page) else None
    return [decision_dict(row) for row in page], next_cursor
