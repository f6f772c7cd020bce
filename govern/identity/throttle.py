"""Throttling of sign-ins, counted in the database so every worker and node shares the count.

Each attempt first records itself, then counts: of parallel guesses at one username at most
MAX_FAILURES reach the password check, since the one that commits last always sees all the others.
A refused attempt takes its row back (it checked nothing); a failed one keeps it; a successful one
clears the username's failures.

A username with MAX_FAILURES failures within HISTORY is locked for LOCK_BASE after its latest
failure, and each further failure that gets through doubles the lock (up to LOCK_MAX): a guesser's
rate falls fast while a person who mistypes waits seconds, not an hour. Attempts refused during a
lock do not lengthen it. An admin can lift a lock (audited).

An address is never locked: past MAX_ADDRESS_FAILURES failures within ADDRESS_WINDOW its attempts
are only slowed, by SOURCE_DELAY per MAX_ADDRESS_FAILURES failures (up to SOURCE_DELAY_MAX), so
made-up usernames from one address (or everyone behind one proxy) do not lock out a person who
knows their password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.models import LoginFailure, User

HISTORY = timedelta(hours=24)
MAX_FAILURES = 5
LOCK_BASE = timedelta(seconds=30)
LOCK_MAX = timedelta(hours=1)
ADDRESS_WINDOW = timedelta(minutes=15)
MAX_ADDRESS_FAILURES = 50
SOURCE_DELAY = 1.0  # seconds
SOURCE_DELAY_MAX = 5.0


class Throttled(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(f"try again in {wait} seconds")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class LockState:
    failures: int  # within HISTORY
    locked_until: datetime | None  # None: not locked now


def lock_duration(failures: int) -> timedelta:
    """How long MAX_FAILURES or more failures lock a username, counted from the latest one."""
    doubled: timedelta = LOCK_BASE * 2 ** min(failures - MAX_FAILURES, 16)
    return min(LOCK_MAX, doubled)


def lock_state(session: Session, username: str, now: datetime, *, besides: int | None = None) -> LockState:
    """The username's failures and lock, leaving out the attempt `besides` (one's own)."""
    query = select(func.count(), func.max(LoginFailure.created_at)).where(
        LoginFailure.username == username[:150], LoginFailure.created_at > now - HISTORY)
    if besides is not None:
        query = query.where(LoginFailure.id != besides)
    count, latest = session.execute(query).one()
    if count < MAX_FAILURES:
        return LockState(count, None)
    until = latest + lock_duration(count)
    return LockState(count, until if until > now else None)


def begin_attempt(session: Session, username: str, address: str, now: datetime) -> None:
    """Record an attempt at `username` before its password is checked; raises Throttled while the
    username is locked; commits."""
    attempt = LoginFailure(username=username[:150], address=address[:100], created_at=now)
    session.add(attempt)
    session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - HISTORY))
    session.commit()
    # Attempts in flight count as failures (they may be): parallel guesses see one another.
    state = lock_state(session, attempt.username, now, besides=attempt.id)
    if state.locked_until is not None:
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.id))
        session.commit()
        raise Throttled(max(1, int((state.locked_until - now).total_seconds()) + 1))


def source_delay(session: Session, address: str, now: datetime) -> float:
    """Seconds to hold an attempt from `address` before its password check (never a refusal)."""
    failures = session.execute(select(func.count()).where(
        LoginFailure.address == address[:100], LoginFailure.created_at > now - ADDRESS_WINDOW)).scalar_one()
    return min(SOURCE_DELAY_MAX, SOURCE_DELAY * (failures // MAX_ADDRESS_FAILURES))


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
