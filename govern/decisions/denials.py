"""An organisation's recent decisions and denials, each denial with the lowest tier that would have
been allowed under the live policy (governance included), so an admin sees what a tier change
would open before making it. Reads only: nothing here is a decision or leaves a log row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from govern.decisions.query import DecisionFilter, list_decisions
from govern.governance.access import live_snapshot

RECENT = 10


@dataclass(frozen=True)
class Denial:
    """A denied decision row and the lowest tier allowed the same (model, capability): None when no
    tier is (an unknown model, a suspended or unopened model, a capability no tier holds)."""

    decision: dict[str, Any]
    lowest_tier: str | None


def recent_decisions(session: Session, org_id: int, limit: int = RECENT) -> list[dict[str, Any]]:
    """The organisation's newest decisions, newest first."""
    return list_decisions(session, DecisionFilter(org_id=org_id), limit=limit)[0]


def recent_denials(session: Session, org_id: int, limit: int = RECENT) -> list[Denial]:
    """The organisation's newest denials, newest first, each with its lowest allowing tier."""
    rows = list_decisions(session, DecisionFilter(org_id=org_id, allow=False), limit=limit)[0]
    snapshot = live_snapshot(session)
    return [Denial(row, snapshot.lowest_allowing_tier(row["model"], row["capability"]))
            for row in rows]
