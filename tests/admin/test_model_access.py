"""The model page's "who could, when" tab: for a past moment (UTC), each tier × capability answer,
the organisations of each tier then and who approved; read-only, so every role (the auditor too)
may use it. Browser test in real Chromium: the auditor picks a past moment on frontier-1's page."""

from __future__ import annotations

import time
from datetime import datetime

from factories import ACTOR, add_models, make_governed_model, make_org, ready_sign_off
from ui import PASSWORD, screenshot

from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.identity.organisations import update_org
from govern.identity.users import create_user
from govern.models import GovernedModel
from govern.models.base import utcnow
from govern.policy.store import change_policy


def frontier_history(session) -> tuple[GovernedModel, datetime]:  # type: ignore[no-untyped-def]
    """frontier-1 signed off for trusted by user:boss on user:rev1's and user:rev2's reviews, trusted
    granted fine_tune on frontier; beta is trusted. Then, after the moment returned (whole seconds),
    acme is raised to trusted and the board reverses the sign-off."""
    add_models(session)
    change_policy(session, lambda raw: raw["grants"].append(
        {"tier": "trusted", "target": "frontier", "capability": "fine_tune"}), actor=ACTOR, comment="grant")
    make_org(session, "acme", "verified")
    make_org(session, "beta", "trusted")
    model = make_governed_model(session, "frontier-1", group="frontier", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="trusted",
                      rationale="safe for trusted")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="trusted")
    time.sleep(1.1)  # the input takes whole seconds: the moment must fall after the sign-off
    moment = utcnow().replace(microsecond=0)
    time.sleep(1.1)
    update_org(session, "acme", actor=ACTOR, tier="trusted")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="new eval")
    return model, moment


def test_auditor_sees_who_could_and_who_approved_then(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    model, moment = frontier_history(session)
    client = signed_in("audrey", "auditor")
    page = client.get(f"/models/{model.id}/access?at={moment:%Y-%m-%dT%H:%M:%S}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Governance at {moment:%Y-%m-%d %H:%M:%S} UTC" in html
    assert 'class="approver">user:boss</a>' in html
    assert "Version in force then: <strong>1.0</strong>." in html
    assert "<tr><td>user:rev1</td><td>trusted and above</td>" in html
    assert '<tr data-capability="fine_tune"><th>fine_tune</th><td>beta</td></tr>' in html
    main = html.split("<main", 1)[1]
    assert 'method="get"' in main and 'method="post"' not in main  # read only: it only asks


def test_now_shows_the_reversal(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    model, _ = frontier_history(session)
    html = signed_in("audrey", "auditor").get(f"/models/{model.id}/access").get_data(as_text=True)
    assert "No sign-off in force: sign-off 1 was reversed by user:board at " in html
    assert '<tr data-capability="fine_tune"><th>fine_tune</th><td>none</td></tr>' in html


def test_a_bad_moment_is_a_message_on_the_page(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "frontier-1", group="frontier")
    response = signed_in("audrey", "auditor").get(f"/models/{model.id}/access?at=last+tuesday")
    assert response.status_code == 400
    assert "field &#39;at&#39; must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z" in \
        response.get_data(as_text=True)
    before = signed_in("ada", "admin").get(f"/models/{model.id}/access?at=1999-01-01T00:00")
    assert before.status_code == 400
    assert "no policy was in force at 1999-01-01 00:00:00 UTC" in before.get_data(as_text=True)


def test_signed_out_is_sent_to_sign_in_and_post_is_refused(session, client) -> None:  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "frontier-1", group="frontier")
    assert client.get(f"/models/{model.id}/access").status_code == 302
    assert client.post(f"/models/{model.id}/access").status_code == 405


def test_auditor_picks_a_past_moment_in_chromium(browser, live_server, session) -> None:  # type: ignore[no-untyped-def]
    model, moment = frontier_history(session)
    create_user(session, actor="test:browser", username="audrey", password=PASSWORD,
                roles=frozenset({"auditor"}))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "audrey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard")
    page.goto(f"{live_server.url}/models/{model.id}")
    page.click("text=Who could, when")
    assert page.locator("label[for=access-at]").inner_text().strip() == "At (UTC)"
    page.fill("#access-at", f"{moment:%Y-%m-%dT%H:%M:%S}")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/models/{model.id}/access?at=*")
    assert page.locator("#who-could tr[data-capability=fine_tune] td").inner_text() == "beta"
    assert page.locator("#approval .approver").inner_text() == "user:boss"
    reviewers = page.locator("#reviews-behind tbody td:first-child").all_inner_texts()
    assert reviewers == ["user:rev1", "user:rev2"]
    assert page.locator("#access-matrix td[data-tier=verified][data-capability=fine_tune]").inner_text() \
        .startswith("deny")
    screenshot(page, "model-access-at")
    context.close()
