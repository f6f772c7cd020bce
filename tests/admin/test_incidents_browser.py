"""An incident from report to lift, in real Chromium: a client reports a jailbreak on one of its
decisions (POST /v1/feedback), a reviewer opens an incident from the triage queue, an admin takes
the kill switch from the incident page (/v1/check denies at once), lifting it on the model page is
refused until two reviewers (neither the opener) record the post-incident review, then it lifts and
/v1/check allows again."""

from __future__ import annotations

import time

import requests
from factories import make_key, make_signed_model
from ui import PASSWORD

from govern.identity.users import create_user

PEOPLE = {"ops": "admin", "tess": "reviewer", "rev3": "reviewer", "rev4": "reviewer"}
PROPAGATION_BOUND = 2.0  # seconds: every change reaches the decision plane within 1 s, plus slack


def test_report_incident_kill_switch_review_and_lift(browser, live_server, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "org-v", tier="verified")
    model, _ = make_signed_model(session, "gpt-x")
    for name, role in PEOPLE.items():
        create_user(session, actor="test:browser", username=name, password=PASSWORD, roles=frozenset({role}))
    contexts = []

    def as_user(name: str, path: str):  # type: ignore[no-untyped-def]
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{live_server.url}/login")
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/dashboard")
        page.goto(f"{live_server.url}{path}")
        return page

    def check(expected: tuple[bool, str]) -> tuple[bool, str]:
        deadline = time.monotonic() + PROPAGATION_BOUND
        while True:
            answer = requests.post(f"{live_server.url}/v1/check", timeout=10,
                                   json={"model": "gpt-x", "capability": "generate"},
                                   headers={"Authorization": f"Bearer {key}"}).json()
            got = answer["allow"], answer["reason"]
            if got == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    caller = {"Authorization": f"Bearer {key}"}
    decision = requests.post(f"{live_server.url}/v1/check", timeout=10, headers=caller,
                             json={"model": "gpt-x", "capability": "generate"}).json()
    assert decision["allow"] is True
    sent = requests.post(f"{live_server.url}/v1/feedback", timeout=10, headers=caller,
                         json={"decision_id": decision["decision_id"], "subject": "output",
                               "category": "jailbreak", "text": "role-play prompt got weapons advice"})
    assert sent.status_code == 201
    report = sent.json()["id"]

    # A reviewer opens an incident from the triage queue.
    tess = as_user("tess", "/feedback")
    tess.fill(f"#incident-title-{report}", "jailbreak through role-play")
    tess.select_option(f"#incident-severity-{report}", "sev1")
    tess.click(f"tr[data-report='{report}'] button:has-text('Open incident')")
    tess.wait_for_selector(".notice.done:has-text('from report')")
    incident_url = tess.url
    assert "role-play prompt got weapons advice" in tess.inner_text("main")

    # The admin takes the kill switch from the incident page.
    ops = as_user("ops", incident_url.removeprefix(live_server.url))
    ops.select_option("#suspend-model", "gpt-x")
    ops.fill("#suspend-reason", "weapons advice through role-play")
    ops.click("button:has-text('Suspend this model for this incident')")
    ops.wait_for_selector(".notice.done:has-text('Suspended gpt-x for incident')")
    assert check((False, "model_suspended")) == (False, "model_suspended")

    # Lifting it on the model page is refused before the post-incident review.
    ops.goto(f"{live_server.url}/models/{model.id}")
    ops.fill("#suspend-rationale", "prompt filter deployed")
    ops.click("button:has-text('Lift the suspension')")
    ops.click("button:has-text('Confirm: lift the suspension')")
    ops.wait_for_selector("p.error:has-text('lifted only after the incident')")
    assert check((False, "model_suspended")) == (False, "model_suspended")

    # Mitigated; two reviewers record the post-incident review.
    ops.goto(incident_url)
    ops.select_option("#state-state", "mitigated")
    ops.click("button:has-text('Change state')")
    ops.wait_for_selector(".notice.done:has-text('The incident is mitigated.')")
    for name in ("rev3", "rev4"):
        reviewer = as_user(name, incident_url.removeprefix(live_server.url))
        reviewer.fill("#review-findings", "cause: role-play framing; fix: prompt filter and eval added")
        reviewer.click("button:has-text('Record my review')")
        reviewer.wait_for_selector(".notice.done:has-text('Review recorded')")
    assert "complete" in reviewer.inner_text(".review-status")
    actions = [row.split("\t")[3] for row in reviewer.locator("table.events tbody tr").all_inner_texts()]
    assert actions == ["incident.open", "incident.feedback", "incident.action", "incident.state",
                       "incident.review", "incident.review"]

    # Now it lifts, and callers are answered by the sign-off again.
    ops.goto(f"{live_server.url}/models/{model.id}")
    ops.fill("#suspend-rationale", "post-incident review complete")
    ops.click("button:has-text('Lift the suspension')")
    ops.click("button:has-text('Confirm: lift the suspension')")
    ops.wait_for_selector(".notice.done:has-text('Lifted the suspension of gpt-x')")
    assert check((True, "granted_by_tier")) == (True, "granted_by_tier")
    for context in contexts:
        context.close()
