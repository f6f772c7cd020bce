"""The dispatcher: scan for time-based events, fan the trail out into deliveries, send what is due.
`govern serve` runs one per machine (`govern notify run`); any number may run at once, against one
database, without sending anything twice that was recorded as sent (govern.notifications.deliveries)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from govern.config import Settings, SmtpSettings
from govern.models.base import utcnow
from govern.models.notification_delivery import EMAIL, NotificationDelivery
from govern.models.notification_event import NotificationEvent
from govern.models.webhook_endpoint import WebhookEndpoint
from govern.notifications.deliveries import claim, due, finish
from govern.notifications.expiries import scan_expiries
from govern.notifications.outbox import body, fan_out
from govern.notifications.sealing import unseal
from govern.notifications.sending import Outcome, post_webhook, send_email

log = logging.getLogger(__name__)
# An attempt may take at most this long, and never more than half the lease: the lease must not
# run out while its holder is still waiting for an answer.
MAX_TIMEOUT = 10.0


@dataclass(frozen=True)
class DispatchConfig:
    secret_key: str
    allow_private: bool
    warn_days: int
    lease: timedelta
    smtp: SmtpSettings | None

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchConfig:
        return cls(settings.secret_key, settings.webhook_allow_private, settings.notify_expiring_days,
                   timedelta(seconds=settings.notify_lease), settings.smtp)

    @property
    def timeout(self) -> float:
        return min(MAX_TIMEOUT, self.lease.total_seconds() / 2)


@dataclass(frozen=True)
class Round:
    events: int  # audit events read
    sent: int  # attempts made
    delivered: int


def run_once(session: Session, config: DispatchConfig, *, now: datetime | None = None) -> Round:
    """One round: everything due at `now` (default: the present) is tried once."""
    at = now or utcnow()
    scan_expiries(session, now=at, warn_days=config.warn_days)
    events = 0
    while read := fan_out(session, now=at, email=config.smtp is not None):
        events += read
    sent = delivered = 0
    while ids := due(session, now=now or utcnow()):
        for delivery_id in ids:
            # The present for each claim: a lease reckoned from the start of a long batch could
            # have run out already, letting another dispatcher send the same delivery.
            started = now or utcnow()
            token = claim(session, delivery_id, now=started, lease=config.lease)
            if token is None:
                continue
            outcome = _send(session, delivery_id, config, started)
            finish(session, delivery_id, token, outcome, started=started, now=now or utcnow())
            sent, delivered = sent + 1, delivered + outcome.ok
    return Round(events, sent, delivered)


def _send(session: Session, delivery_id: int, config: DispatchConfig, now: datetime) -> Outcome:
    delivery = session.get(NotificationDelivery, delivery_id)
    assert delivery is not None
    event = session.get(NotificationEvent, delivery.event_id)
    assert event is not None
    if delivery.channel == EMAIL:
        session.rollback()
        if config.smtp is None:
            return Outcome(False, 0.0, error="no SMTP server is set (GOVERN_SMTP_HOST)")
        assert delivery.recipient is not None
        return send_email(config.smtp, delivery.recipient, event.payload, event.id, timeout=config.timeout)
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    url, sealed, enabled = endpoint.url, endpoint.secret_sealed, endpoint.enabled
    session.rollback()  # hold no transaction while the receiver takes its time
    if not enabled:
        return Outcome(False, 0.0, error="the endpoint is disabled")
    return post_webhook(url, event.id, body(event.payload), unseal(sealed, config.secret_key), now=now,
                        timeout=config.timeout, allow_private=config.allow_private)


def run_forever(session: Session, config: DispatchConfig, *, interval: float, stop: threading.Event) -> None:
    """Rounds every `interval` seconds until `stop`; a round that fails is logged and tried again."""
    while not stop.is_set():
        try:
            run_once(session, config)
        except Exception:  # the database away, say: the next round tries again
            log.exception("a notification round failed; trying again in %.0f s", interval)
            session.rollback()
        stop.wait(interval)
