"""The escalation path: who is told when an incident is opened (the people receiving
`incident.opened` by e-mail, and the enabled webhooks subscribed to it), and the live facts a
launch checklist's checks need, gathered for the caller to report (see
govern.governance.live_checks)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.governance.live_checks import LiveFacts
from govern.models.webhook_endpoint import WebhookEndpoint
from govern.notifications.preferences import recipients

INCIDENT_OPENED = "incident.opened"


def escalation_webhooks(session: Session) -> tuple[int, ...]:
    """Ids of the enabled webhook endpoints subscribed to incident.opened."""
    rows = session.execute(select(WebhookEndpoint.id, WebhookEndpoint.event_types)
                           .where(WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id))
    return tuple(endpoint_id for endpoint_id, types in rows if INCIDENT_OPENED in (types or ()))


def live_facts(session: Session, *, decision_logging: bool, decision_logging_detail: str = "",
               feedback_intake: bool) -> LiveFacts:
    """The facts for the live checks: decision logging's health and the feedback intake as the
    running service reports them, the escalation path as the database holds it now."""
    return LiveFacts(decision_logging=decision_logging, feedback_intake=feedback_intake,
                     escalation_recipients=tuple(recipients(session, INCIDENT_OPENED)),
                     escalation_webhooks=escalation_webhooks(session),
                     decision_logging_detail=decision_logging_detail)
