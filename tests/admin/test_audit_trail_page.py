"""The audit trail page: filters by actor, action, target and time (UTC) on the server, pages by id
keeping the filters, and shows each event's before and after as a field-by-field diff."""

from __future__ import annotations

import re
import time

from factories import ACTOR, make_org
from sqlalchemy import text
from ui import PASSWORD, screenshot

from govern.audit.checkpoints import checkpointer
from govern.extensions import db
from govern.identity.organisations import update_org
from govern.identity.users import create_user
from govern.models.base import utcnow


def rows(html: str) -> list[str]:
    """The event ids listed, in page order."""
    return re.findall(r'<tr id="event-(\d+)">', html)


def test_filters_by_actor_action_and_target(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    acme = make_org(session, "acme", "verified")
    make_org(session, "beta", "free")
    update_org(session, "acme", actor="user:ada", tier="trusted")
    client = signed_in("audrey", "auditor")

    by_ada = client.get("/audit?actor=user:ada").get_data(as_text=True)
    assert "Audit trail of user:ada" in by_ada
    assert by_ada.count("<code>org.update</code>") == 1 and "<code>org.create</code>" not in by_ada

    created = client.get("/audit?action=org.create").get_data(as_text=True)
    assert created.count("<code>org.create</code>") == 2 and "<code>org.update</code>" not in created
    assert '<option selected>org.create</option>' in created

    about_acme = client.get(f"/audit?target=org:{acme}").get_data(as_text=True)
    assert about_acme.count("<code>org.") == 2


def test_before_and_after_are_a_diff(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    make_org(session, "acme", "verified")
    update_org(session, "acme", actor="user:ada", tier="trusted")
    html = signed_in("audrey", "auditor").get("/audit?action=org.update").get_data(as_text=True)
    assert '<table class="diff">' in html
    assert ('<tr><td><code>tier</code></td>\n    \n    <td><code>"verified"</code></td>\n'
            '    <td><code>"trusted"</code></td>') in html
    assert "<code>name</code>" not in html  # unchanged fields are left out


def test_time_range_is_utc_since_inclusive_until_exclusive(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    make_org(session, "early", "free")
    time.sleep(1.1)
    middle = utcnow().replace(microsecond=0)
    time.sleep(1.1)
    make_org(session, "late", "free")
    client = signed_in("audrey", "auditor")
    since = client.get(f"/audit?action=org.create&since={middle:%Y-%m-%dT%H:%M:%S}").get_data(as_text=True)
    until = client.get(f"/audit?action=org.create&until={middle:%Y-%m-%dT%H:%M:%S}").get_data(as_text=True)
    assert '"late"' in since and '"early"' not in since
    assert '"early"' in until and '"late"' not in until


def test_a_bad_time_is_a_message_not_an_error_page(session, signed_in) -> None:  # type: ignore[no-untyped-def]
    response = signed_in("audrey", "auditor").get("/audit?since=yesterday")
    assert response.status_code == 400
    assert "field &#39;since&#39; must be an ISO 8601 time" in response.get_data(as_text=True)


def test_paging_keeps_the_filters(session, signed_in, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("govern.admin.audit.PAGE", 2)
    for name in ("a", "b", "c"):
        make_org(session, name, "free")
    client = signed_in("audrey", "auditor")
    first = client.get("/audit?action=org.create").get_data(as_text=True)
    assert len(rows(first)) == 2
    link = re.search(r'<a rel="next" href="([^"]+)">', first)
    assert link is not None
    second = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(rows(second)) == 1
    assert min(map(int, rows(first))) > int(rows(second)[0])
    assert "<code>org.create</code>" in second


def test_signed_out_cannot_read_it(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/audit").status_code == 302


def test_screenshot_of_the_audit_trail(browser, live_server, session) -> None:  # type: ignore[no-untyped-def]
    make_org(session, "acme", "verified")
    update_org(session, "acme", actor=ACTOR, tier="trusted")
    create_user(session, actor="test:browser", username="audrey", password=PASSWORD,
                roles=frozenset({"auditor"}))
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "audrey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard")
    page.goto(f"{live_server.url}/audit")
    page.select_option("#audit-action", "org.update")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/audit?*action=org.update*")
    assert page.locator("table.diff td code").first.inner_text() == "tier"
    screenshot(page, "audit-trail")
    page.context.close()


def test_an_auditor_verifies_the_trail_in_the_browser_and_sees_an_edit_behind_govern_s_back(  # type: ignore[no-untyped-def]
        signed_in, app, session):
    make_org(session, "acme", "free")
    checkpointer(db.engine, app.extensions["govern.settings"]).write()
    auditor = signed_in("aud", "auditor")

    intact = auditor.get("/audit/verify").get_data(as_text=True)
    assert "The trail verifies." in intact and "audit trail intact" in intact
    session.execute(text("UPDATE audit_event SET actor = 'user:mallory' WHERE id = 1"))
    session.commit()
    broken = auditor.get("/audit/verify").get_data(as_text=True)

    assert "The trail does not verify" in broken
    assert "audit trail broken at event 1: contents do not match its hash (edited)" in broken
    assert signed_in("rita", "reviewer").get("/audit/verify").status_code == 403
