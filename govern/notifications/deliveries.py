"""Deliveries: the retry schedule, the lease a dispatcher claims one with, the log of attempts, and
replay.

Exactly once, as far as it can be: a dispatcher claims a due delivery by setting a lease in one
conditional UPDATE, sends it, then records the outcome only while its lease is still the one on the
row. A dispatcher killed in between leaves the lease to run out, and the next one sends again; a
delivery recorded as delivered is never sent again except by a replay. The one case left, killed
after the receiver answered but before the record, is why receivers de-duplicate by `webhook-id`."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, NotFound
from govern.models.notification_delivery import (
    DELIVERED,
    FAILED,
    PENDING,
    DeliveryAttempt,
    NotificationDelivery,
)
from govern.models.notification_event import NotificationEvent
from govern.notifications.sending import Outcome

# The wait after each failed attempt (the first is sent at once): Standard Webhooks' usual
# schedule, 27 h 35 min in all, then the delivery is failed. Each wait varies by ±10 % so the
# retries of many deliveries after an outage do not arrive together.
RETRY_SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                  timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
JITTER = 0.1


def retry_delay(failed_attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """The wait after the `failed_attempts`-th failure in a row, or None when the schedule is used up."""
    if failed_attempts > len(RETRY_SCHEDULE):
        return None
    spread = 1 + (rng or random).uniform(-JITTER, JITTER)
    return RETRY_SCHEDULE[failed_attempts - 1] * spread


def _claimable(now: datetime) -> Any:
    return ((NotificationDelivery.state == PENDING) & (NotificationDelivery.next_attempt_at <= now)
            & or_(NotificationDelivery.lease_until.is_(None), NotificationDelivery.lease_until < now))


def due(session: Session, *, now: datetime, limit: int = 50) -> list[int]:
    ids = list(session.execute(select(NotificationDelivery.id).where(_claimable(now))
                               .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
                               .limit(limit)).scalars())
    session.rollback()
    return ids


def claim(session: Session, delivery_id: int, *, now: datetime, lease: timedelta) -> str | None:
    """Take the delivery for `lease`; the token proves it later. None: someone else has it, or it
    is not due."""
    token = secrets.token_hex(16)
    taken = session.execute(update(NotificationDelivery)
                            .where(NotificationDelivery.id == delivery_id, _claimable(now))
                            .values(lease_until=now + lease, lease_token=token))
    session.commit()
    return token if taken.rowcount == 1 else None  # type: ignore[attr-defined]


def finish(session: Session, delivery_id: int, token: str, outcome: Outcome, *, started: datetime,
           now: datetime) -> bool:
    """Log the attempt and schedule what follows, if the lease is still ours; False if it ran out
    and another dispatcher took the delivery over (its attempt is the one that counts)."""
    row = session.get(NotificationDelivery, delivery_id)
    if row is None or row.lease_token != token:
        session.rollback()
        return False
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "lease_until": None, "lease_token": None}
    if outcome.ok:
        values |= {"state": DELIVERED, "delivered_at": now}
    else:
        delay = retry_delay(attempts)
        values |= {"state": FAILED} if delay is None else {"next_attempt_at": now + delay}
    kept = session.execute(update(NotificationDelivery).where(NotificationDelivery.id == delivery_id,
                                                              NotificationDelivery.lease_token == token)
                           .values(**values))
    if kept.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.add(DeliveryAttempt(delivery_id=delivery_id, started_at=started, duration_ms=outcome.duration_ms,
                                ok=outcome.ok, status_code=outcome.status_code, response=outcome.response,
                                error=outcome.error))
    session.commit()
    return True


def replay(session: Session, delivery_id: int, *, actor: str, now: datetime,
           endpoint_id: int | None = None) -> None:
    """Send a delivered or failed delivery again, soon, with the same event id and a fresh schedule;
    with `endpoint_id`, only a delivery to that endpoint. Raises NotFound, Conflict."""
    row = session.get(NotificationDelivery, delivery_id)
    if row is None or (endpoint_id is not None and row.endpoint_id != endpoint_id):
        raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
    if row.state == PENDING:
        raise Conflict(f"delivery {delivery_id} is still being tried; wait for it to end",
                       code="delivery_pending")
    before = {"state": row.state, "attempts": row.attempts}
    row.state, row.attempts, row.next_attempt_at = PENDING, 0, now
    row.lease_until = row.lease_token = None
    record_event(session, actor=actor, action="webhook.replay", target=f"delivery:{row.id}", before=before,
                 after={"event_id": row.event_id, "endpoint_id": row.endpoint_id, "recipient": row.recipient})
    session.commit()


@dataclass(frozen=True)
class AttemptInfo:
    started_at: datetime
    duration_ms: float
    ok: bool
    status_code: int | None
    response: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at.isoformat(), "duration_ms": self.duration_ms, "ok": self.ok,
                "status_code": self.status_code, "response": self.response, "error": self.error}


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    event_id: str
    event_type: str
    channel: str
    endpoint_id: int | None
    recipient: str | None
    state: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[AttemptInfo]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "event_id": self.event_id, "event_type": self.event_type,
                "channel": self.channel, "endpoint_id": self.endpoint_id, "recipient": self.recipient,
                "state": self.state,
                "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
                "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
                "attempts": [attempt.as_dict() for attempt in self.attempts]}


def list_deliveries(session: Session, *, endpoint_id: int | None = None,
                    limit: int = 100) -> list[DeliveryInfo]:
    """The newest deliveries (of one endpoint, or all), each with its attempts, oldest first."""
    query = (select(NotificationDelivery, NotificationEvent.type)
             .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
             .order_by(NotificationDelivery.id.desc()).limit(limit))
    if endpoint_id is not None:
        query = query.where(NotificationDelivery.endpoint_id == endpoint_id)
    rows = session.execute(query).all()
    attempts: dict[int, list[AttemptInfo]] = {}
    if rows:
        for attempt in session.execute(select(DeliveryAttempt)
                                       .where(DeliveryAttempt.delivery_id.in_([row.id for row, _ in rows]))
                                       .order_by(DeliveryAttempt.id)).scalars():
            attempts.setdefault(attempt.delivery_id, []).append(AttemptInfo(
                attempt.started_at, attempt.duration_ms, attempt.ok, attempt.status_code, attempt.response,
                attempt.error))
    return [DeliveryInfo(row.id, row.event_id, kind, row.channel, row.endpoint_id, row.recipient, row.state,
                         row.next_attempt_at if row.state == PENDING else None, row.delivered_at,
                         attempts.get(row.id, []))
            for row, kind in rows]
