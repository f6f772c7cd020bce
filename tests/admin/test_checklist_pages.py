"""The launch checklist and re-reviews on the model page: items shown with their live checks, a form
to record one, and the UI's sign-off refused (through check_sign_off) until the checklist is
complete against the live system, escalation path and feedback intake included."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from html import unescape

from factories import (
    complete_checklist,
    make_escalation_path,
    make_governed_model,
    make_launch_ready,
    ready_sign_off,
    set_rate_limits,
)
from sqlalchemy import select

from govern.governance.reviews import record_review
from govern.identity.users import create_user
from govern.models import ChecklistItem, GovernedModel, SignOff
from govern.models.base import utcnow


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def reviewed(session) -> GovernedModel:  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="ok")
    return model


def sign_via_ui(client, token, model: GovernedModel):  # type: ignore[no-untyped-def]
    url = f"/models/{model.id}"
    return client.post(f"{url}/sign-offs", data={"csrf_token": token(client, url), "tier": "verified",
                                                "confirmed": "yes"})


def signed(session) -> list[str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [s.approver for s in session.execute(select(SignOff)).scalars()]


def test_the_page_shows_each_item_and_its_live_check(signed_in, session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    page = text(signed_in("ann", "auditor").get(f"/models/{model.id}"))
    assert ('<span class="badge deny">incomplete</span> 8 of 8 items missing: a sign-off is refused until '
            "every item is complete.") in page
    assert ("<td>Rate limiting enabled</td> <td>open</td> <td>—</td><td>—</td> "
            "<td><code>rate_limits</code>: <strong>fails</strong> "
            "(no rate limit for verified, trusted, internal in the policy)</td>") in page
    assert ("<code>escalation</code>: <strong>fails</strong> (nobody receives incident.opened by e-mail; "
            "no enabled webhook takes incident.opened)") in page
    assert "<code>feedback</code>: passes (the feedback intake is on)" in page
    assert "<code>decision_logging</code>: passes (decision logging is healthy)" in page
    assert "Update an item" not in page  # an auditor reads, never records


def test_a_reviewer_records_an_item_on_the_page(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    create_user(session, actor="test:ui", username="olive", password="a-long-password-123",
                roles=frozenset({"auditor"}))
    rita = signed_in("rita2", "reviewer")
    url = f"/models/{model.id}"
    done = rita.post(f"{url}/checklist", data={
        "csrf_token": token(rita, url), "checklist-item": "red_team", "checklist-state": "done",
        "checklist-owner": "olive", "checklist-evidence": "https://wiki.example.com/rt-7"},
        follow_redirects=True)
    assert "Recorded 'Red-team testing done' of gpt-x 1.0: done." in text(done)
    assert ("<td>Red-team testing done</td> <td>done</td> <td>user:olive</td>"
            "<td>https://wiki.example.com/rt-7</td> <td>—</td> "
            '<td class="nowrap">user:rita2, ') in text(done)
    refused = rita.post(f"{url}/checklist", data={
        "csrf_token": token(rita, url), "checklist-item": "content_filters", "checklist-state": "done",
        "checklist-owner": "olive", "checklist-evidence": ""})
    assert refused.status_code == 400
    assert "marking 'Content filters in place' done needs its owner and evidence" in text(refused)
    boss = signed_in("boss", "approver")
    assert boss.post(f"{url}/checklist", data={"csrf_token": token(boss, url), "checklist-item": "red_team",
                                               "checklist-state": "open"}).status_code == 403
    session.expire_all()
    assert [(r.item_id, r.state) for r in session.execute(select(ChecklistItem)).scalars()] == [
        ("red_team", "done")]


def test_the_ui_sign_off_is_refused_naming_the_missing_items(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    set_rate_limits(session)
    complete_checklist(session, model)
    boss = signed_in("boss", "approver")
    refused = sign_via_ui(boss, token, model)
    assert refused.status_code == 400
    assert ("the launch checklist is not complete: A human escalation path defined (its live check failed: "
            "nobody receives incident.opened by e-mail; no enabled webhook takes incident.opened)"
            ) in text(refused)
    assert signed(session) == []


def test_the_ui_sign_off_goes_through_once_the_live_system_is_ready(app, signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    make_launch_ready(session, model)
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)
    boss = signed_in("boss", "approver")
    assert sign_via_ui(boss, token, model).status_code == 302
    assert signed(session) == ["user:boss"]


def test_the_feedback_intake_switched_off_refuses_the_ui_sign_off(app, signed_in, session, token,  # type: ignore[no-untyped-def]
                                                                  monkeypatch):
    model = reviewed(session)
    make_launch_ready(session, model)
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)
    settings = app.extensions["govern.settings"]
    monkeypatch.setitem(app.extensions, "govern.settings",
                        dataclasses.replace(settings, feedback_intake=False))
    boss = signed_in("boss", "approver")
    refused = sign_via_ui(boss, token, model)
    assert refused.status_code == 400
    assert ("the launch checklist is not complete: A user-feedback mechanism (its live check failed: "
            "the feedback intake is off (GOVERN_FEEDBACK_INTAKE))") in text(refused)
    assert signed(session) == []


def test_due_and_overdue_re_reviews_are_on_the_dashboard_and_recorded(signed_in, session, token):  # type: ignore[no-untyped-def]
    overdue = reviewed(session)
    ready_sign_off(session, actor="user:boss", model=overdue, tier="verified",
                   now=utcnow() - timedelta(days=95))
    due = make_governed_model(session, name="gpt-y", group="standard", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=due, recommendation="open", tier="verified",
                      rationale="ok")
    ready_sign_off(session, actor="user:boss", model=due, tier="verified", now=utcnow() - timedelta(days=80))
    rev = signed_in("rev3", "reviewer")
    page = text(rev.get("/dashboard"))
    assert re.search(r'<li class="overdue"><a href="/models/\d+#re-review">gpt-x</a> '
                     r"<strong>overdue</strong> since \d{4}-\d\d-\d\d [\d:]+ UTC</li>", page)
    assert re.search(r'<li class="due"><a href="/models/\d+#re-review">gpt-y</a> due \d{4}-', page)

    url = f"/models/{overdue.id}"
    done = rev.post(f"{url}/re-reviews", data={"csrf_token": token(rev, url),
                                               "re_review-recommendation": "continue",
                                               "re_review-rationale": "abuse rate flat"},
                    follow_redirects=True)
    assert "Recorded your re-review of gpt-x: continue." in text(done)
    assert "Next re-review due" in text(done)
    assert "gpt-x" not in text(rev.get("/dashboard")).split("Re-reviews")[1].split("</ul>")[0]
