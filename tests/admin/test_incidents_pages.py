"""The incident and feedback pages over HTTP: opening an incident, the kill switch from its page
and the model page refusing to lift it before the post-incident review, the triage queue opening an
incident, the dashboard's counts, and the role checks."""

from __future__ import annotations

import re
from html import unescape

from factories import make_governed_model
from sqlalchemy import select

from govern.governance import incidents
from govern.models import FeedbackReport, GovernedModel, Incident
from govern.models.base import utcnow


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def add_report(session, model: str = "chat-1") -> FeedbackReport:  # type: ignore[no-untyped-def]
    row = FeedbackReport(decision_id="0" * 26, model=model, subject="output", category="jailbreak",
                         text="it wrote malware", reported_by="gvk_0123456789ab", reporter_kind="pep",
                         received_at=utcnow(), state="new", triage_note="")
    session.add(row)
    session.commit()
    return row


def test_an_incident_opened_on_the_page_shows_its_timeline(signed_in, session, token):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    ops = signed_in("ops", "admin")
    done = ops.post("/incidents", data={"csrf_token": token(ops, "/incidents"), "title": "jailbreak wave",
                                        "severity": "sev2", "models": "chat-1", "description": "two orgs"},
                    follow_redirects=True)
    page = text(done)
    incident = session.execute(select(Incident)).scalar_one()
    assert f"Opened incident #{incident.id}; the escalation path is notified." in page
    assert f"Incident #{incident.id}: jailbreak wave" in page and "incident.open" in page


def test_an_unknown_model_is_said_on_the_form(signed_in, session, token):  # type: ignore[no-untyped-def]
    ops = signed_in("ops", "admin")
    answer = ops.post("/incidents", data={"csrf_token": token(ops, "/incidents"), "title": "x",
                                          "severity": "sev2", "models": "ghost"})
    assert answer.status_code == 400 and "ghost is not under governance" in text(answer)


def test_the_kill_switch_from_the_incident_is_not_lifted_on_the_model_page(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "chat-1", post="medium")
    incident = incidents.open_incident(session, actor="user:olga", title="leak", severity="sev1")
    ops = signed_in("ops", "admin")
    url = f"/incidents/{incident.id}"
    kill = {"csrf_token": token(ops, url), "suspend-model": "chat-1", "suspend-reason": "stop it"}
    page = text(ops.post(f"{url}/suspend-model", data=kill, follow_redirects=True))
    assert f"Suspended chat-1 for incident #{incident.id}" in page
    assert (f"Suspended for incident #{incident.id} leak: lifted only after its post-incident review."
            in re.sub(r"<[^>]+>", "", text(ops.get(f"/models/{model.id}"))))
    session.expire_all()
    assert session.get(GovernedModel, model.id).suspended

    lift = {"csrf_token": token(ops, f"/models/{model.id}"), "suspend-rationale": "fixed",
            "suspend-confirmed": "yes"}
    refused = ops.post(f"/models/{model.id}/suspension", data=lift)
    assert refused.status_code == 400
    assert f"this suspension was made for incident #{incident.id} 'leak'" in text(refused)
    session.expire_all()
    assert session.get(GovernedModel, model.id).suspended


def test_a_report_in_the_queue_opens_an_incident(signed_in, session, token):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    report = add_report(session)
    triager = signed_in("tess", "reviewer")
    queue = text(triager.get("/feedback"))
    assert "it wrote malware" in queue and "jailbreak" in queue
    opened = triager.post(f"/feedback/{report.id}/incident",
                          data={"csrf_token": token(triager, "/feedback"), "title": "malware on chat-1",
                                "severity": "sev2"}, follow_redirects=True)
    page = text(opened)
    incident = session.execute(select(Incident)).scalar_one()
    assert f"Opened incident #{incident.id} from report {report.id}" in page
    assert "it wrote malware" in page and incident.affected_models == ["chat-1"]
    assert "No reports in state new." in text(triager.get("/feedback?state=new"))


def test_the_dashboard_counts_reports_per_model_and_lists_open_incidents(signed_in, session):  # type: ignore[no-untyped-def]
    add_report(session)
    add_report(session)
    incidents.open_incident(session, actor="user:olga", title="leak", severity="sev1")
    page = text(signed_in("ada", "auditor").get("/dashboard"))
    assert ('<tr data-model="chat-1"><td><a href="/feedback?model=chat-1&state=">chat-1</a></td>'
            "<td>2</td><td>2</td></tr>") in page
    assert "leak" in page and "sev1" in page


def test_an_auditor_reads_but_does_not_change(signed_in, session, token):  # type: ignore[no-untyped-def]
    incident = incidents.open_incident(session, actor="user:olga", title="leak", severity="sev1")
    auditor = signed_in("ada", "auditor")
    url = f"/incidents/{incident.id}"
    assert auditor.get(url).status_code == 200
    answer = auditor.post(f"{url}/notes", data={"csrf_token": token(auditor, url), "note-text": "hi"})
    assert answer.status_code == 403
