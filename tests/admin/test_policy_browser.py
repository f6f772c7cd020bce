"""The policy page in real Chromium: an admin takes a grant out of the matrix, reads the impact
preview (answers that would flip, by organisation) before applying, then applies: alone, a new
policy version is live; with a second admin, it waits as a proposal. Saves
docs/screenshots/policy.png and policy-preview.png."""

from __future__ import annotations

from factories import add_models, log_decision
from ui import browser_sign_in, screenshot

from govern.identity.users import create_user
from govern.policy.store import current_policy

BOX = '[id="grant|verified|standard|generate"]'


def signed_in(browser, live_server, username: str, password: str):  # type: ignore[no-untyped-def]
    return browser_sign_in(browser, live_server.url, username, password,
                           viewport={"width": 1280, "height": 900})


def seed(session) -> int:  # type: ignore[no-untyped-def]
    """Three allowed answers for acme that the edit below would turn into denies; the live version."""
    add_models(session)
    for _ in range(3):
        log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                     allow=True, reason="granted_by_tier")
    session.commit()
    return current_policy(session).version


def preview_without_the_grant(page, live_server):  # type: ignore[no-untyped-def]
    page.click("nav >> text=Policy")
    page.wait_for_url(f"{live_server.url}/policy")
    assert page.locator(BOX).is_checked()
    page.locator(BOX).uncheck()
    page.fill("#comment", "standard generate needs trusted")
    page.click("button:has-text('Preview')")
    page.wait_for_url(f"{live_server.url}/policy/preview")
    preview = page.locator("section.policy-preview")
    assert "grant removed: allow verified generate on standard" in preview.inner_text()
    assert "3 answer(s) would flip allow → deny" in preview.inner_text()
    assert "organisation\tacme\t3" in preview.locator("table.policy-impact").inner_text()
    assert not page.locator(BOX).is_checked()  # the draft travels in the form


def test_an_admin_alone_previews_the_impact_then_applies(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    version = seed(session)
    create_user(session, actor="test:ui", username="ann", password=password, roles=frozenset({"admin"}))
    ann = signed_in(browser, live_server, "ann", password)
    ann.goto(f"{live_server.url}/policy")
    screenshot(ann, "policy")

    preview_without_the_grant(ann, live_server)
    screenshot(ann, "policy-preview")
    ann.click("#apply")
    ann.wait_for_url(f"{live_server.url}/policy")

    assert f"Live version {version + 1}" in ann.content()
    session.expire_all()
    row = current_policy(session)
    assert (row.version, row.comment) == (version + 1, "standard generate needs trusted")


def test_with_a_second_admin_applying_makes_a_proposal(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    version = seed(session)
    for name in ("ann", "ben"):
        create_user(session, actor="test:ui", username=name, password=password, roles=frozenset({"admin"}))
    ann = signed_in(browser, live_server, "ann", password)

    preview_without_the_grant(ann, live_server)
    assert ann.locator("#apply").inner_text() == "Propose"
    ann.click("#apply")
    ann.wait_for_url(f"{live_server.url}/proposals/*")

    assert "Proposed: this change waits for a second admin to approve it." in ann.content()
    session.expire_all()
    assert current_policy(session).version == version
