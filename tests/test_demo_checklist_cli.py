"""`govern demo` signs its models off through the launch checklist like any other entry point: it
makes what the live checks need, and is refused when one fails."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from govern.models import AuditEvent
from govern.notifications.escalation import escalation_webhooks
from govern.notifications.preferences import recipients
from govern.policy.store import current_document


def test_the_demo_completes_each_checklist_against_the_live_system(govern: Any, session) -> None:  # type: ignore[no-untyped-def]
    assert govern("demo").exit_code == 0
    session.rollback()
    signed = session.execute(select(AuditEvent.target, AuditEvent.after)
                             .where(AuditEvent.action == "model.sign_off").order_by(AuditEvent.id)).all()
    assert [target for target, _ in signed] == ["model:open-7b", "model:chat-standard", "model:frontier-1"]
    assert all(set(after["checklist"].values()) == {"done"} and len(after["checklist"]) == 8
               for _, after in signed)
    assert sorted(current_document(session).rate_limits) == ["free", "internal", "trusted", "verified"]
    assert recipients(session, "incident.opened") == ["oncall@demo.invalid"]
    assert len(escalation_webhooks(session)) == 1


def test_the_demo_is_refused_while_the_feedback_intake_is_off(govern: Any, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GOVERN_FEEDBACK_INTAKE", "off")
    govern.env["GOVERN_FEEDBACK_INTAKE"] = "off"
    result = govern("demo")
    assert result.exit_code != 0
    assert ("A user-feedback mechanism (its live check failed: the feedback intake is off "
            "(GOVERN_FEEDBACK_INTAKE))") in result.output
