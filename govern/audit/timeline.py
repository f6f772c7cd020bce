"""Reading the audit trail for people: the global timeline and one target's timeline, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import AuditEvent

PAGE = 100


@dataclass(frozen=True)
class EventFilter:
    """Which events to show; None is no filter. `since` is inclusive, `until` exclusive."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def recent_events(session: Session, *, before: int | None = None, where: EventFilter | None = None,
                  limit: int = PAGE) -> list[AuditEvent]:
    """Up to `limit` events older than id `before` (all when None) matching `where`, newest first."""
    where = where or EventFilter()
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    for column, value in ((AuditEvent.actor, where.actor), (AuditEvent.action, where.action),
                          (AuditEvent.target, where.target)):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditEvent.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.created_at < where.until)
    return list(session.execute(query).scalars())


def event_actions(session: Session) -> list[str]:
    """Every action the trail holds, for choosing one."""
    return list(session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())


def events_for_target(session: Session, *targets: str) -> list[AuditEvent]:
    """The events about any of `targets`, newest first."""
    return list(session.execute(select(AuditEvent).where(AuditEvent.target.in_(targets))
                                .order_by(AuditEvent.id.desc())).scalars())
