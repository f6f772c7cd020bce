"""Registering webhook endpoints. Every change is an audit event in the change's transaction.

Not a guarded change: an endpoint receives governance events (which carry no secret and no
decision data) but widens nobody's access, so one admin registers it, in the trail for all to see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import InvalidInput
from govern.models.base import get_or_not_found
from govern.models.notification_delivery import DeliveryAttempt, NotificationDelivery
from govern.models.webhook_endpoint import WebhookEndpoint
from govern.notifications.addresses import check_url
from govern.notifications.catalogue import check_types
from govern.notifications.sealing import new_secret, seal

MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_by: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "description": self.description,
                "event_types": self.event_types, "enabled": self.enabled,
                "created_by": self.created_by, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class NewEndpoint:
    info: EndpointInfo
    secret: str  # shown once


def _info(row: WebhookEndpoint) -> EndpointInfo:
    return EndpointInfo(row.id, row.url, row.description, list(row.event_types), row.enabled,
                        row.created_by, row.created_at)


def _facts(row: WebhookEndpoint) -> dict[str, Any]:
    return {"url": row.url, "description": row.description, "event_types": list(row.event_types),
            "enabled": row.enabled}


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"a description is at most {MAX_DESCRIPTION} characters", code="invalid_field")
    return text.strip()


def _find(session: Session, endpoint_id: int) -> WebhookEndpoint:
    return get_or_not_found(session, WebhookEndpoint, endpoint_id, f"no webhook endpoint {endpoint_id}",
                            "webhook_not_found")


def add_endpoint(session: Session, *, actor: str, url: str, event_types: list[str], secret_key: str,
                 allow_private: bool, description: str = "") -> NewEndpoint:
    """Register an endpoint with a new signing secret (returned once, then only sealed)."""
    secret = new_secret()
    row = WebhookEndpoint(url=check_url(url, allow_private=allow_private),
                          event_types=check_types(event_types),
                          description=_description(description), secret_sealed=seal(secret, secret_key),
                          enabled=True, created_by=actor)
    session.add(row)
    session.flush()
    record_event(session, actor=actor, action="webhook.create", target=f"webhook:{row.id}", after=_facts(row))
    session.commit()
    return NewEndpoint(_info(row), secret)


def update_endpoint(session: Session, endpoint_id: int, *, actor: str, event_types: list[str] | None = None,
                    enabled: bool | None = None, description: str | None = None) -> EndpointInfo:
    row = _find(session, endpoint_id)
    before = _facts(row)
    if event_types is not None:
        row.event_types = check_types(event_types)
    if enabled is not None:
        row.enabled = enabled
    if description is not None:
        row.description = _description(description)
    if _facts(row) != before:
        record_event(session, actor=actor, action="webhook.update", target=f"webhook:{row.id}",
                     before=before, after=_facts(row))
    session.commit()
    return _info(row)


def remove_endpoint(session: Session, endpoint_id: int, *, actor: str) -> None:
    """Delete the endpoint with its deliveries and their log (the trail keeps that it existed)."""
    row = _find(session, endpoint_id)
    deliveries = select(NotificationDelivery.id).where(NotificationDelivery.endpoint_id == row.id)
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(NotificationDelivery).where(NotificationDelivery.endpoint_id == row.id))
    record_event(session, actor=actor, action="webhook.delete", target=f"webhook:{row.id}",
                 before=_facts(row))
    session.delete(row)
    session.commit()


def get_endpoint(session: Session, endpoint_id: int) -> EndpointInfo:
    return _info(_find(session, endpoint_id))


def list_endpoints(session: Session) -> list[EndpointInfo]:
    rows = session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).scalars()
    return [_info(row) for row in rows]
