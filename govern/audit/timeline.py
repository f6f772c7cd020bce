"""Reading the audit trail for people: the global timeline and one target's timeline, newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import AuditEvent

PAGE = 100


def recent_events(session: Session, *, before: int | None = None, actor: str | None = None,
                  limit: int = PAGE) -> list[AuditEvent]:
    """Up to `limit` events older than id `before` (all when None), by `actor` if given, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    return list(session.execute(query).scalars())


def events_for_target(session: Session, *targets: str) -> list[AuditEvent]:
    """The events about any of `targets`, newest first."""
    return list(session.execute(select(AuditEvent).where(AuditEvent.target.in_(targets))
                                .order_by(AuditEvent.id.desc())).scalars())
