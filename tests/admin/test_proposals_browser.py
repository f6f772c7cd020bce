"""The two-person rule in real Chromium: one admin proposes a guarded change (an identity provider's
default tier) on its form, the proposal waits with a readable diff, the proposer has no approve
button, and a second admin approves it on the Proposals page; only then is it live."""

from __future__ import annotations

from sqlalchemy import select
from ui import browser_sign_in

from govern.identity.issuers import create_issuer, get_issuer
from govern.identity.users import create_user
from govern.models import AuditEvent

ISSUER = {"name": "corp", "issuer": "https://login.corp.example", "audiences": ["govern"],
          "default_tier": "free", "rules": []}


def signed_in(browser, live_server, username: str, password: str):  # type: ignore[no-untyped-def]
    return browser_sign_in(browser, live_server.url, username, password)


def test_a_guarded_change_proposed_by_one_admin_is_applied_when_another_approves(  # type: ignore[no-untyped-def]
        browser, live_server, session, password, tmp_path):
    for name in ("ann", "ben"):
        create_user(session, actor="test:ui", username=name, password=password,
                    roles=frozenset({"admin"}))
    create_issuer(session, ISSUER, actor="test:ui")
    ann = signed_in(browser, live_server, "ann", password)

    ann.goto(f"{live_server.url}/identity-providers/corp/edit")
    assert "saving makes it a proposal, which waits for a second admin" in ann.content()
    ann.select_option("#default_tier", "trusted")
    ann.click("button:has-text('Save changes')")
    ann.wait_for_url(f"{live_server.url}/proposals/*")

    assert "Proposed: this change waits for a second admin to approve it." in ann.content()
    assert ann.locator("table.diff tbody tr").all_inner_texts() == ['default_tier\t"free"\t"trusted"']
    assert ann.locator("button:has-text('Approve and apply')").count() == 0
    session.expire_all()
    assert get_issuer(session, "corp").default_tier == "free"

    ben = signed_in(browser, live_server, "ben", password)
    ben.click("nav >> text=Proposals")
    card = ben.locator("section.proposal")
    assert card.locator("h3").inner_text().startswith("#1 issuer.set")
    assert "Proposed by user:ann" in card.inner_text()
    ben.screenshot(path=str(tmp_path / "proposals.png"), full_page=True)
    card.locator("input[name=reason]").fill("agreed in the access review")
    card.locator("button:has-text('Approve and apply')").click()
    ben.wait_for_url(f"{live_server.url}/proposals/1")

    assert "State: applied (two person)" in ben.locator("p.state").inner_text()
    session.expire_all()
    assert get_issuer(session, "corp").default_tier == "trusted"
    approval = session.execute(select(AuditEvent).where(AuditEvent.action == "proposal.approve")).scalar_one()
    assert (approval.actor, approval.after["proposer"], approval.after["reason"]) == (
        "user:ben", "user:ann", "agreed in the access review")
