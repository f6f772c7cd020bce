"""Triage of feedback reports: the queue and its filters, dismissing, opening an incident from a
report or joining one, every change audited, and the counts per model on the dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import make_governed_model, make_org
from sqlalchemy import select

from govern.errors import Conflict, InvalidInput
from govern.governance import feedback, incidents
from govern.models import AuditEvent, FeedbackReport
from govern.models.base import utcnow


def report(session, *, model: str = "chat-1", state: str = "new", category: str = "abuse",  # type: ignore[no-untyped-def]
           days_ago: float = 0, org_id: int | None = None) -> FeedbackReport:
    row = FeedbackReport(decision_id="01" * 13, model=model, org_id=org_id, subject="output",
                         category=category,
                         text="it insulted me", reported_by="gvk_0123456789ab", reporter_kind="client",
                         received_at=utcnow() - timedelta(days=days_ago), state=state, triage_note="")
    session.add(row)
    session.commit()
    return row


def test_the_queue_filters_by_state_model_and_category(session):  # type: ignore[no-untyped-def]
    first, second = report(session), report(session, model="chat-2", category="jailbreak")
    report(session, state="dismissed")
    assert feedback.list_reports(session, state="new") == [second, first]
    assert feedback.list_reports(session, model="chat-2") == [second]
    assert feedback.list_reports(session, category="abuse", state="new") == [first]
    with pytest.raises(InvalidInput):
        feedback.list_reports(session, state="lost")


def test_dismissing_a_report_is_audited(session):  # type: ignore[no-untyped-def]
    row = report(session)
    feedback.triage_report(session, actor="user:tess", report=row, state="dismissed", note="not reproducible")
    assert (row.state, row.triaged_by, row.triage_note) == ("dismissed", "user:tess", "not reproducible")
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "feedback.triage")).scalar_one()
    assert (event.target, event.after["state"]) == (f"feedback:{row.id}", "dismissed")


def test_a_report_opens_an_incident_about_its_model_and_organisation(session):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    org_id = make_org(session, "acme")
    row = report(session, org_id=org_id)
    incident = feedback.open_incident_from(session, actor="user:tess", report=row, title="abuse on chat-1",
                                           severity="sev3")
    assert (row.state, row.incident_id) == ("linked", incident.id)
    assert (incident.affected_models, incident.affected_orgs) == (["chat-1"], ["acme"])
    assert [e.action for e in incidents.timeline(session, incident)] == ["incident.open", "incident.feedback"]


def test_a_report_joins_an_existing_incident_once(session):  # type: ignore[no-untyped-def]
    incident = incidents.open_incident(session, actor="user:olga", title="abuse wave", severity="sev2")
    row = report(session, model="not-governed")
    feedback.join_incident(session, actor="user:tess", report=row, incident=incident)
    assert feedback.list_reports(session, incident_id=incident.id) == [row]
    with pytest.raises(Conflict) as caught:
        feedback.triage_report(session, actor="user:tess", report=row, state="dismissed")
    assert caught.value.code == "already_linked"


def test_counts_per_model_are_of_new_reports_and_of_the_last_seven_days(session):  # type: ignore[no-untyped-def]
    report(session)
    report(session, state="dismissed")
    report(session, days_ago=10)
    report(session, model="chat-2", days_ago=1, state="triaged")
    counts = {c.model: (c.new, c.recent) for c in feedback.feedback_counts(session)}
    assert counts == {"chat-1": (2, 2), "chat-2": (0, 1)}
