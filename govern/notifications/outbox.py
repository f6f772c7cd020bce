"""The audit trail is the outbox. Every change records its audit event in its own transaction
(govern.audit.trail), so the trail holds exactly the changes that committed, and its ids are
gap-free and commit in order (a writer taking an id still held by an open transaction fails). The
dispatcher reads the trail from its cursor, turns the events the catalogue maps into notification
events with one delivery per matching endpoint and e-mail recipient, and moves the cursor, in one
transaction: an event is fanned out once, or not at all, whoever dies when.

The audit layer knows nothing of this: it only appends."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.governance.registry import newest_version
from govern.governance.reviews import quorum
from govern.models.audit_event import AuditEvent
from govern.models.notification_delivery import EMAIL, PENDING, WEBHOOK, NotificationDelivery
from govern.models.notification_event import NotificationEvent
from govern.models.notification_outbox import AUDIT_CURSOR, NotificationCursor
from govern.models.webhook_endpoint import WebhookEndpoint
from govern.notifications.catalogue import ACTION_TYPES
from govern.notifications.preferences import recipients

BATCH = 200


def event_types(session: Session, event: AuditEvent) -> list[str]:
    """The notification types an audit event yields: the catalogue's, plus review.needed for a
    rating of a model whose reviewer quorum is not met."""
    types = list(ACTION_TYPES.get(event.action, ()))
    if event.action == "model.rate":
        try:
            model = newest_version(session, event.target.removeprefix("model:"))
        except NotFound:
            return types
        if quorum(session, model).widest_tier is None:
            types.append("review.needed")
    return types


def event_id(audit_event_id: int, event_type: str) -> str:
    """Stable and derived, so every dispatcher names an event the same way."""
    return f"msg_{audit_event_id}_{event_type.replace('.', '_')}"


def payload(event: AuditEvent, event_type: str) -> dict[str, Any]:
    """Standard Webhooks' shape: type, timestamp, data."""
    return {"type": event_type, "timestamp": event.created_at.isoformat(),
            "data": {"audit_event_id": event.id, "actor": event.actor, "action": event.action,
                     "target": event.target, "before": event.before, "after": event.after}}


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def fan_out(session: Session, *, now: datetime, email: bool) -> int:
    """Turn the next batch of audit events into notification events and deliveries; returns how many
    audit events were read (0 when the cursor is at the head, or another dispatcher moved it)."""
    position = session.execute(select(NotificationCursor.position)
                               .where(NotificationCursor.name == AUDIT_CURSOR)).scalar_one()
    events = list(session.execute(select(AuditEvent).where(AuditEvent.id > position)
                                  .order_by(AuditEvent.id).limit(BATCH)).scalars())
    if not events:
        session.rollback()
        return 0
    moved = session.execute(update(NotificationCursor)
                            .where(NotificationCursor.name == AUDIT_CURSOR,
                                   NotificationCursor.position == position)
                            .values(position=events[-1].id))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return 0
    endpoints = list(session.execute(select(WebhookEndpoint)
                                     .where(WebhookEndpoint.enabled.is_(True))).scalars())
    for event in events:
        for kind in event_types(session, event):
            _add(session, event, kind, endpoints, now=now, email=email)
    session.commit()
    return len(events)


def _add(session: Session, event: AuditEvent, kind: str, endpoints: list[WebhookEndpoint], *,
         now: datetime, email: bool) -> None:
    row = NotificationEvent(id=event_id(event.id, kind), audit_event_id=event.id, type=kind,
                            created_at=event.created_at, payload=payload(event, kind))
    session.add(row)
    session.flush()  # its deliveries refer to it
    # An endpoint receives what happened since it was registered, not before.
    targets: list[tuple[str, int | None, str | None]] = [
        (WEBHOOK, endpoint.id, None) for endpoint in endpoints
        if kind in endpoint.event_types and endpoint.created_at <= event.created_at]
    if email:
        targets += [(EMAIL, None, address) for address in recipients(session, kind)]
    session.add_all(NotificationDelivery(event_id=row.id, channel=channel, endpoint_id=endpoint_id,
                                         recipient=recipient, state=PENDING, attempts=0,
                                         next_attempt_at=now, created_at=now)
                    for channel, endpoint_id, recipient in targets)
