"""Reading the decision log: filters and cursor pagination, newest first.

A decision id starts with its time in microseconds (14 hex digits), so a time window is a range of
ids: every filter shape is answered from one (column, decision_id) index, or the primary key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from govern.models import Decision

MAX_PAGE = 1_000
ID_TIME_DIGITS = 14

# Filter field -> column compared for equality. A new filterable column is one line here plus its
# (column, decision_id) index in a migration.
EQUALITY_FILTERS: dict[str, Any] = {
    "org_id": Decision.org_id,
    "key_prefix": Decision.key_prefix,
    "tier": Decision.tier,
    "model": Decision.model,
    "capability": Decision.capability,
    "allow": Decision.allow,
    "reason": Decision.reason,
    "issuer": Decision.issuer,
    "subject": Decision.subject,
    "delivered": Decision.delivered,  # false: from its partial index, the rare marked rows
}

# The row as every reader sees it (API page, explorer, exports, purge digest), in this order; exports
# and the purge digest add its usage (govern.decisions.export.EXPORT_COLUMNS).
COLUMNS = ("decision_id", "created_at", "request_id", "org_id", "key_prefix", "tier", "model",
           "capability", "allow", "reason", "policy_version", "latency_us", "pep_prefix", "issuer",
           "subject", "org_name", "sign_off_id", "attempts", "delivered")


@dataclass(frozen=True)
class DecisionFilter:
    since: datetime | None = None
    until: datetime | None = None
    org_id: int | None = None
    key_prefix: str | None = None
    tier: str | None = None
    model: str | None = None
    capability: str | None = None
    allow: bool | None = None
    reason: str | None = None
    issuer: str | None = None
    subject: str | None = None
    delivered: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters in use, JSON-ready (times in ISO 8601)."""
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in asdict(self).items() if value is not None}


def id_at(moment: datetime) -> str:
    """The smallest decision id made at or after `moment`."""
    micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    return f"{max(micros, 0):0{ID_TIME_DIGITS}x}"


def conditions(where: DecisionFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.since is not None:
        found.append(Decision.decision_id >= id_at(where.since))
    if where.until is not None:
        found.append(Decision.decision_id < id_at(where.until))
    for name, column in EQUALITY_FILTERS.items():
        value = getattr(where, name)
        if value is not None:
            found.append(column == value)
    return found


def decision_select(where: DecisionFilter) -> Select[Any]:
    """The filtered rows as plain tuples in COLUMNS order (no ORM objects: exports stream these)."""
    table = Decision.__table__
    return select(*(table.c[name] for name in COLUMNS)).where(*conditions(where))


def row_dict(row: Any) -> dict[str, Any]:
    values = dict(zip(COLUMNS, row))  # noqa: B905 (a select of COLUMNS: same length by construction)
    values["created_at"] = values["created_at"].isoformat()
    return values


def list_decisions(session: Session, where: DecisionFilter, *, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of decisions and the cursor of the next page (None on the last page)."""
    size = min(limit, MAX_PAGE)
    query = decision_select(where).order_by(Decision.decision_id.desc()).limit(size + 1)
    if cursor:
        query = query.where(Decision.decision_id < cursor)
    rows = session.execute(query).all()
    page = [row_dict(row) for row in rows[:size]]
    next_cursor = page[-1]["decision_id"] if len(rows) > size else None
    return page, next_cursor


def count_decisions(session: Session, where: DecisionFilter) -> int:
    return session.execute(
        select(func.count()).select_from(Decision).where(*conditions(where))).scalar_one()


def get_decision(session: Session, decision_id: str) -> dict[str, Any] | None:
    row = session.execute(decision_select(DecisionFilter())
                          .where(Decision.decision_id == decision_id)).first()
    return row_dict(row) if row is not None else None
