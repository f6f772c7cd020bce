"""Sending one delivery: a signed webhook POST or an e-mail, each ending in an Outcome for the
delivery log (never an exception)."""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import requests
from standardwebhooks import Webhook

from govern.config import SmtpSettings
from govern.errors import GovernError
from govern.notifications.addresses import check_host
from govern.notifications.catalogue import EVENT_TYPES

SNIPPET = 500


@dataclass(frozen=True)
class Outcome:
    ok: bool
    duration_ms: float
    status_code: int | None = None
    response: str = ""
    error: str = ""


def signed_headers(event_id: str, body: bytes, secret: str, now: datetime) -> dict[str, str]:
    """Standard Webhooks: `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of
    "id.timestamp.body" under the secret."""
    return {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, now, body.decode()),
            "content-type": "application/json", "user-agent": "govern-webhooks"}


def post_webhook(url: str, event_id: str, body: bytes, secret: str, *, now: datetime, timeout: float,
                 allow_private: bool) -> Outcome:
    """One attempt; 2xx is delivered. Redirects are not followed (they could lead anywhere)."""
    began = time.monotonic()
    try:
        check_host(urlsplit(url).hostname or "", allow_private=allow_private)
        answer = requests.post(url, data=body, headers=signed_headers(event_id, body, secret, now),
                               timeout=timeout, allow_redirects=False)
    except GovernError as error:
        return Outcome(False, _since(began), error=error.message[:SNIPPET])
    except requests.RequestException as error:
        return Outcome(False, _since(began), error=f"{type(error).__name__}: {error}"[:SNIPPET])
    return Outcome(200 <= answer.status_code < 300, _since(began), answer.status_code,
                   answer.text[:SNIPPET], "" if answer.ok else f"answered {answer.status_code}")


def send_email(smtp: SmtpSettings, recipient: str, payload: dict[str, Any], event_id: str, *,
               timeout: float) -> Outcome:
    began = time.monotonic()
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.user:
                server.login(smtp.user, smtp.password)
            server.send_message(message(smtp.sender, recipient, payload, event_id))
    except (OSError, smtplib.SMTPException) as error:
        return Outcome(False, _since(began), error=f"{type(error).__name__}: {error}"[:SNIPPET])
    return Outcome(True, _since(began))


def message(sender: str, recipient: str, payload: dict[str, Any], event_id: str) -> EmailMessage:
    data = payload["data"]
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, recipient
    mail["Subject"] = f"[govern] {EVENT_TYPES[payload['type']].summary}: {data['target']}"
    # The same id on every retry: mail clients and filters can drop a repeat.
    mail["Message-ID"] = f"<{event_id}@govern>"
    mail.set_content(
        f"{EVENT_TYPES[payload['type']].summary}.\n\n"
        f"What:  {data['action']} on {data['target']}\nWho:   {data['actor']}\n"
        f"When:  {payload['timestamp']}\n"
        f"Event: {payload['type']} ({event_id}); audit event {data['audit_event_id']}\n\n"
        "You receive this because of your role in govern; choose what you receive under "
        "Notifications in the admin UI.\n")
    return mail


def _since(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 1)
