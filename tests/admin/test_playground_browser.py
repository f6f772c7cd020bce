"""The playground in real Chromium: an admin asks about an organisation and a signed-off model,
reads the answer, reason, rule and sign-off, then asks again as a bare tier; nothing is recorded."""

from __future__ import annotations

from factories import ACTOR, add_models, make_org, make_signed_model
from sqlalchemy import func, select
from ui import screenshot

from govern.identity.users import create_user
from govern.models import Decision
from govern.policy.store import change_policy


def test_an_admin_asks_the_playground_and_reads_why(browser, live_server, session, password,  # type: ignore[no-untyped-def]
                                                    tmp_path):
    add_models(session)
    change_policy(session, lambda raw: raw.update(rate_limits={"trusted": {"per_minute": 600}}),
                  actor=ACTOR, comment="limits")
    _model, signed = make_signed_model(session, "frontier-1", group="frontier", tier="trusted")
    make_org(session, "acme", "trusted")
    create_user(session, actor="test:ui", username="ann", password=password, roles=frozenset({"admin"}))
    decisions = session.execute(select(func.count()).select_from(Decision)).scalar_one()

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "ann")
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard")
    page.click("nav >> text=Playground")
    page.wait_for_url(f"{live_server.url}/playground")

    page.get_by_label("An organisation").check()
    page.select_option("#organisation", "acme")
    page.fill("#model", "frontier-1")
    page.fill("#capability", "generate")
    page.click("button:has-text('Ask')")
    answer = page.locator("section.playground-answer")
    assert answer.locator("h2").inner_text() == "allow generate on frontier-1"
    text = answer.inner_text()
    assert "granted_by_tier: a grant to the caller's tier (or a tier below it) allows this" in text
    assert "p, trusted, frontier, generate, allow" in text
    assert f"#{signed.id}: open to trusted and above, approved by user:boss" in text
    assert "600 per minute" in text
    screenshot(page, "playground")

    page.get_by_label("A bare tier").check()
    page.select_option("#tier", "verified")
    page.click("button:has-text('Ask')")
    assert answer.locator("h2").inner_text() == "deny generate on frontier-1"
    assert "tier_too_low" in answer.inner_text()

    session.rollback()
    assert session.execute(select(func.count()).select_from(Decision)).scalar_one() == decisions
