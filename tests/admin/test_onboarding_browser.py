"""Onboarding an organisation in real Chromium: admin ann creates acme at free, makes it a key (the
secret is read from the one-time page and works on /v1/check; reloading the page no longer shows
it), then raises acme to trusted, which waits as a proposal until admin ben approves it.
Screenshots of the new pages go to docs/screenshots/."""

from __future__ import annotations

from factories import add_models
from sqlalchemy import select
from ui import browser_sign_in, screenshot

from govern.identity.organisations import get_org
from govern.identity.users import create_user
from govern.models import AuditEvent


def signed_in(browser, live_server, username: str, password: str):  # type: ignore[no-untyped-def]
    return browser_sign_in(browser, live_server.url, username, password,
                           viewport={"width": 1280, "height": 900})


def check(app, secret: str, model: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = app.test_client().post("/v1/check", json={"model": model, "capability": "generate"},
                                      headers={"Authorization": f"Bearer {secret}"})
    return dict(response.json)


def test_onboarding_an_organisation_with_a_key_and_raising_its_tier(  # type: ignore[no-untyped-def]
        browser, live_server, session, password, app):
    add_models(session)
    for name in ("ann", "ben"):
        create_user(session, actor="test:ui", username=name, password=password,
                    roles=frozenset({"admin"}))
    ann = signed_in(browser, live_server, "ann", password)

    ann.click("nav >> text=Organisations")
    ann.wait_for_url(f"{live_server.url}/organisations")
    ann.click("text=Add an organisation")
    ann.fill("#name", "acme")
    ann.select_option("#tier", "free")
    ann.click("button:has-text('Add organisation')")
    ann.wait_for_url(f"{live_server.url}/organisations/*")
    org_url = ann.url
    assert "Created acme." in ann.content()

    ann.fill("#name", "batch jobs")
    ann.click("button:has-text('Create key')")
    ann.wait_for_selector("#secret")
    assert "it is shown only this once" in ann.content()
    secret = ann.input_value("#secret")
    assert secret.startswith("gvk_")
    ann.click("#copy-secret")
    ann.wait_for_selector("#copy-status:has-text('Selected'), #copy-status:has-text('Copied')")
    screenshot(ann, "key-created")
    assert check(app, secret, "open-7b")["allow"] is True
    assert check(app, secret, "frontier-1")["reason"] == "tier_too_low"

    ann.reload()
    prefix = "_".join(secret.split("_")[:2])
    assert ann.url == f"{live_server.url}/keys/{prefix}"
    assert secret not in ann.content() and ann.locator("#secret").count() == 0
    assert prefix in ann.locator("h1").inner_text()

    ann.goto(org_url)
    screenshot(ann, "organisation")
    assert "saving makes it a proposal, which waits for a second admin" in ann.content()
    ann.select_option("#tier", "trusted")
    ann.click("button:has-text('Save tier')")
    ann.wait_for_url(f"{live_server.url}/proposals/*")
    assert "Proposed: this change waits for a second admin to approve it." in ann.content()
    session.expire_all()
    assert get_org(session, "acme").tier == "free"

    ben = signed_in(browser, live_server, "ben", password)
    ben.click("nav >> text=Proposals")
    card = ben.locator("section.proposal")
    assert card.locator("h3").inner_text().startswith("#1 org.tier")
    card.locator("button:has-text('Approve and apply')").click()
    ben.wait_for_url(f"{live_server.url}/proposals/1")
    assert "State: applied (two person)" in ben.locator("p.state").inner_text()
    session.expire_all()
    assert get_org(session, "acme").tier == "trusted"

    ben.goto(f"{live_server.url}/organisations")
    assert ben.locator("table.organisations tbody tr").all_inner_texts()[0].split("\t")[:2] == [
        "acme", "trusted"]
    screenshot(ben, "organisations")
    events = session.execute(select(AuditEvent)).scalars().all()
    assert all(secret not in repr((event.before, event.after)) for event in events)
