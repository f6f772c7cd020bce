"""The hash-chained audit trail: append inside the caller's transaction, verify the whole chain.

Each event's hash covers its own fields and the previous event's hash, and ids run 1, 2, 3, ... with
no gap, so an edited, inserted or deleted row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import AuditEvent
from govern.models.base import utcnow

GENESIS = "0" * 64


def event_hash(event_id: int, created_at: datetime, actor: str, action: str, target: str,
               before: Any, after: Any, prev_hash: str) -> str:
    body = json.dumps(
        [event_id, created_at.isoformat(), actor, action, target, before, after, prev_hash],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record_event(session: Session, *, actor: str, action: str, target: str,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event to the session's transaction; it commits (or rolls back) with the change.

    Two writers racing for the same id collide on the primary key, so the chain never forks."""
    last = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    event_id = last.id + 1 if last else 1
    prev_hash = last.hash if last else GENESIS
    # Round-trip through JSON so the hash covers exactly what the database will give back.
    before = json.loads(json.dumps(before, default=str)) if before is not None else None
    after = json.loads(json.dumps(after, default=str)) if after is not None else None
    created_at = utcnow()
    event = AuditEvent(
        id=event_id, created_at=created_at, actor=actor, action=action, target=target,
        before=before, after=after, prev_hash=prev_hash,
        hash=event_hash(event_id, created_at, actor, action, target, before, after, prev_hash),
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


def verify_chain(session: Session, batch: int = 1000) -> tuple[int, ChainBreak | None]:
    """Check every event in order; returns (events checked, first break or None)."""
    expected_id, prev_hash, checked = 1, GENESIS, 0
    for event in _events(session, batch):
        if event.id != expected_id:
            what = "missing" if event.id > expected_id else "out of order"
            return checked, ChainBreak(expected_id, f"event {expected_id} is {what}")
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(event.id, "previous-hash link does not match the event before")
        recomputed = event_hash(event.id, event.created_at, event.actor, event.action, event.target,
                                event.before, event.after, event.prev_hash)
        if recomputed != event.hash:
            return checked, ChainBreak(event.id, "contents do not match its hash (edited)")
        expected_id, prev_hash, checked = expected_id + 1, event.hash, checked + 1
    return checked, None


def _events(session: Session, batch: int) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        session.expunge_all()
