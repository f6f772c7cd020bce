"""Throttling of sign-ins, counted in the database so every worker and node shares the count.

Each attempt first records itself, then counts: of parallel guesses at one username at most
MAX_FAILURES reach the password check within WINDOW, since the one that commits last always sees
all the others. A refused attempt takes its row back (it checked nothing); a failed one keeps it;
a successful one clears the username's failures.

An address is never locked: past MAX_ADDRESS_FAILURES failures within WINDOW its attempts are only
slowed by SOURCE_DELAY, so made-up usernames from one address (or everyone behind one proxy) do not
lock out a person who knows their password."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.models import LoginFailure, User

WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 50
SOURCE_DELAY = 1.0  # seconds


class Throttled(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(f"try again in {wait} seconds")
        self.wait = wait


def begin_attempt(session: Session, username: str, address: str, now: datetime) -> None:
    """Record an attempt at `username` before its password is checked; raises Throttled when the
    username has had its MAX_FAILURES within WINDOW; commits."""
    attempt = LoginFailure(username=username[:150], address=address[:100], created_at=now)
    session.add(attempt)
    session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - WINDOW))
    session.commit()
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.created_at))
        .where(LoginFailure.username == attempt.username, LoginFailure.created_at > now - WINDOW)).one()
    if count > MAX_FAILURES:
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.id))
        session.commit()
        raise Throttled(max(1, int((oldest + WINDOW - now).total_seconds()) + 1))



def source_delay(session: Session, address: str, now: datetime) -> float:
    """Seconds to hold an attempt from `address` before its password check (never a refusal)."""
    failures = session.execute(select(func.count()).where(
        LoginFailure.address == address[:100], LoginFailure.created_at > now - WINDOW)).scalar_one()
    return SOURCE_DELAY if failures > MAX_ADDRESS_FAILURES else 0.0


def clear_failures(session: Session, username: str) -> None:
    """A successful sign-in forgets the username's failures (its own attempt too); commits."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username[:150]))
    session.commit()


def unlock(session: Session, *, actor: str, user: User) -> int:
    """Lift `user`'s sign-in lock by forgetting their failures (audited); how many; commits."""
    failures = LoginFailure.username == user.username[:150]
    forgotten = session.execute(select(func.count()).where(failures)).scalar_one()
    session.execute(delete(LoginFailure).where(failures))
    record_event(session, actor=actor, action="user.unlock", target=f"user:{user.id}",
                 after={"username": user.username, "failures_cleared": forgotten})
    session.commit()
    return int(forgotten)
