"""E-mail notifications through a real SMTP server on 127.0.0.1 (aiosmtpd): each event goes to the
people whose role it concerns, who have an address and did not mute it; a server that is away
leaves the delivery to be retried."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from factories import make_signed_model

from govern.identity.people import update_person
from govern.identity.users import create_user
from govern.models.base import utcnow
from govern.notifications.deliveries import list_deliveries
from govern.notifications.dispatcher import DispatchConfig, run_once
from govern.notifications.preferences import choose, chosen

SENDER = "govern@example.org"


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        return [str(mail["Subject"]) for recipients, mail in self.messages if address in recipients]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def env(env: dict[str, str], mailbox: Mailbox) -> dict[str, str]:
    return {**env, "GOVERN_SMTP_HOST": "127.0.0.1", "GOVERN_SMTP_PORT": str(mailbox.port),
            "GOVERN_SMTP_FROM": SENDER, "GOVERN_SMTP_STARTTLS": "off"}


def person(session, username: str, role: str, email: str | None) -> int:  # type: ignore[no-untyped-def]
    user = create_user(session, actor="test:factory", username=username, password="a-long-password-123",
                       roles=frozenset({role}))
    if email:
        update_person(session, actor="test:factory", person_id=user.person_id, email=email)
    return user.person_id


def test_each_event_reaches_the_roles_it_concerns_unless_muted(app, session, mailbox):
    person(session, "ada", "approver", "ada@example.org")
    abe = person(session, "abe", "approver", "abe@example.org")
    person(session, "rex", "reviewer", "rex@example.org")
    person(session, "aud", "auditor", "aud@example.org")
    person(session, "noa", "approver", None)
    receives = [name for name, on in chosen(session, abe).items() if on]
    choose(session, abe, actor="user:abe", receive=[name for name in receives if name != "signoff.made"])

    make_signed_model(session, "atlas")
    run_once(session, DispatchConfig.from_settings(app.extensions["govern.settings"]))

    signed = "[govern] a model was signed off for a tier: model:atlas"
    rated = "[govern] a risk rating was recorded or changed: model:atlas"
    assert mailbox.to("ada@example.org").count(signed) == 1
    assert signed not in mailbox.to("abe@example.org")
    assert mailbox.to("abe@example.org").count(rated) == 4
    assert mailbox.to("rex@example.org") == [rated] * 4  # reviewers are not told of sign-offs
    assert mailbox.to("aud@example.org") == []
    _, mail = next(item for item in mailbox.messages if item[1]["Subject"] == signed)
    assert mail["From"] == SENDER
    assert "model.sign_off on model:atlas" in mail.get_payload()
    assert "user:boss" in mail.get_payload()


def test_a_person_sees_only_the_types_their_roles_concern(session):
    rex = person(session, "rex", "reviewer", "rex@example.org")
    # Reviewers are on the escalation path of incidents too.
    assert list(chosen(session, rex)) == ["rating.changed", "review.needed", "incident.opened",
                                          "incident.updated", "review.due", "review.overdue"]


def test_mail_is_retried_while_the_smtp_server_is_away(app, session, mailbox):
    person(session, "ada", "approver", "ada@example.org")
    config = DispatchConfig.from_settings(app.extensions["govern.settings"])
    assert config.smtp is not None
    away = replace(config, smtp=replace(config.smtp, port=free_port()))
    make_signed_model(session, "atlas")
    now = utcnow()
    run_once(session, away, now=now)
    assert mailbox.messages == []
    waiting = [d for d in list_deliveries(session) if d.event_type == "signoff.made"]
    assert [(d.state, len(d.attempts)) for d in waiting] == [("pending", 1)]
    assert "ConnectionRefusedError" in waiting[0].attempts[0].error
    run_once(session, config, now=now + timedelta(minutes=1))
    assert "[govern] a model was signed off for a tier: model:atlas" in mailbox.to("ada@example.org")
