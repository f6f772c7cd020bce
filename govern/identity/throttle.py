"""Throttling of failed sign-ins, counted in the database so every worker and node shares the count.

After MAX_FAILURES failed attempts for one username (or MAX_ADDRESS_FAILURES from one address)
within WINDOW, further attempts are refused until the oldest failure leaves the window."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from govern.models import LoginFailure

WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 50


def retry_after(session: Session, username: str, address: str, now: datetime) -> int | None:
    """Seconds until `username` from `address` may try again, or None if it may try now."""
    since = now - WINDOW
    waits = []
    for column, value, limit in ((LoginFailure.username, username, MAX_FAILURES),
                                 (LoginFailure.address, address, MAX_ADDRESS_FAILURES)):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.created_at))
            .where(column == value, LoginFailure.created_at > since)).one()
        if count >= limit and oldest is not None:
            waits.append(max(1, int((oldest + WINDOW - now).total_seconds()) + 1))
    return max(waits) if waits else None


def record_failure(session: Session, username: str, address: str, now: datetime) -> None:
    """Count one failure, and forget failures older than the window; commits."""
    session.add(LoginFailure(username=username[:150], address=address[:100], created_at=now))
    session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - WINDOW))
    session.commit()


def clear_failures(session: Session, username: str) -> None:
    """A successful sign-in forgets the username's failures; commits."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    session.commit()
