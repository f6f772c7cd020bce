"""Figures from the decision log for the dashboard: decisions per tier over time, recent denials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.decisions.query import DecisionFilter, conditions, decision_select, row_dict
from govern.models import Decision


@dataclass(frozen=True)
class TierSeries:
    starts: list[datetime]  # start of each bucket, oldest first
    counts: dict[str, list[int]]  # tier -> decisions per bucket ("none" for unauthenticated)


def decisions_per_tier(session: Session, *, end: datetime, buckets: int, width: timedelta) -> TierSeries:
    """Counts per tier in `buckets` consecutive windows of `width` ending at `end`; one grouped
    count per window over a range of the primary key (decision ids begin with their time), so
    the decision table needs no index of its own for it."""
    starts = [end - width * (buckets - index) for index in range(buckets)]
    counts: dict[str, list[int]] = {}
    for index, start in enumerate(starts):
        rows = session.execute(
            select(Decision.tier, func.count())
            .where(*conditions(DecisionFilter(since=start, until=start + width)))
            .group_by(Decision.tier)).all()
        for tier, count in rows:
            counts.setdefault(tier or "none", [0] * buckets)[index] = count
    return TierSeries(starts, counts)


def recent_denials(session: Session, limit: int = 15) -> list[dict[str, object]]:
    rows = session.execute(decision_select(DecisionFilter(allow=False))
                           .order_by(Decision.decision_id.desc()).limit(limit))
    return [row_dict(row) for row in rows]
