"""The People page: admins grant and remove roles, link accounts, disable and re-enable people
and reset passwords; a disabled person's live session is refused on its next request; local
sign-ins, failed sign-ins and sign-outs are in the audit trail."""

from __future__ import annotations

import re

import requests
from sqlalchemy import select
from ui import PASSWORD, TOKEN, csrf_token, sign_in

from govern.identity.sso_accounts import sign_in_identity
from govern.identity.users import create_user, find_user
from govern.models import AuditEvent


def browser_sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")


def http_session(base: str, username: str) -> requests.Session:
    """Another person's session over real HTTP, signed in through the form."""
    other = requests.Session()
    match = TOKEN.search(other.get(f"{base}/login", timeout=10).text)
    assert match is not None
    answer = other.post(f"{base}/login", timeout=10, allow_redirects=False, data={
        "username": username, "password": PASSWORD, "csrf_token": match.group(1) or match.group(2)})
    assert answer.status_code == 302
    return other


def events(session, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                .order_by(AuditEvent.id)).scalars())


def test_an_admin_grants_a_role_and_disables_a_person_whose_live_session_stops(  # type: ignore[no-untyped-def]
        page, live_server, session):
    for name, role in (("ann", "admin"), ("rita", "reviewer")):
        create_user(session, actor="test:ui", username=name, password=PASSWORD, roles=frozenset({role}))
    rita = http_session(live_server.url, "rita")
    assert rita.get(f"{live_server.url}/models", timeout=10, allow_redirects=False).status_code == 200

    browser_sign_in(page, live_server.url, "ann")
    page.click("nav >> text=People")
    page.click("table.people >> text=rita")
    # auditor is no governance role: the only admin grants it alone (flagged single-person)
    page.select_option("select[aria-label='role to grant rita']", "auditor")
    page.click("button:has-text('Grant role')")
    assert page.inner_text("p.notice") == "rita now holds auditor."

    page.click("button:has-text('Disable this person')")
    assert "rita is disabled" in page.inner_text("p.notice")
    # Her live session is refused on its very next request.
    refused = rita.get(f"{live_server.url}/models", timeout=10, allow_redirects=False)
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")

    page.click("button:has-text('Re-enable this person')")
    assert page.inner_text("p.notice") == "rita is enabled again."
    again = http_session(live_server.url, "rita")
    assert again.get(f"{live_server.url}/models", timeout=10, allow_redirects=False).status_code == 200
    rita_id = find_user(session, "rita").id  # type: ignore[union-attr]
    assert [e.after for e in events(session, "user.roles")] == [{"roles": ["auditor", "reviewer"]}]
    assert [e.target for e in events(session, "user.roles")] == [f"user:{rita_id}"]


def test_an_admin_moves_an_sso_account_to_a_person_without_adding_a_role(  # type: ignore[no-untyped-def]
        signed_in, token, session):
    ann = signed_in("ann", "admin")
    rita = create_user(session, actor="test:ui", username="rita", password=PASSWORD,
                       roles=frozenset({"reviewer", "approver"}))
    idp = sign_in_identity(session, issuer="https://idp.example", subject="r1", username="rita-sso",
                           roles=frozenset({"auditor"}))
    moved = ann.post(f"/people/accounts/{idp.id}/person", follow_redirects=True,
                     data={"person_id": rita.person_id, "csrf_token": token(ann, f"/people/{idp.person_id}")})
    text = moved.get_data(as_text=True)
    assert moved.status_code == 200
    assert "rita-sso now belongs to this person; its roles are unchanged." in text
    session.expire_all()
    assert find_user(session, "rita-sso").person_id == rita.person_id  # type: ignore[union-attr]
    assert find_user(session, "rita-sso").role_set == {"auditor"}  # type: ignore[union-attr]
    assert "roles come from the issuer's role mapping" in text


def test_a_password_reset_shows_the_new_password_once(signed_in, token, app, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    rita = create_user(session, actor="test:ui", username="rita", password=PASSWORD,
                       roles=frozenset({"reviewer"}))
    page = ann.post(f"/people/accounts/{rita.id}/password",
                    data={"csrf_token": token(ann, f"/people/{rita.person_id}")})
    assert page.status_code == 200
    match = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True))
    assert match is not None
    assert sign_in(app.test_client(), "rita", match.group(1)).status_code == 302
    assert sign_in(app.test_client(), "rita", PASSWORD).status_code == 200  # the old one no more


def test_an_auditor_sees_people_but_cannot_change_them(signed_in, token, session):  # type: ignore[no-untyped-def]
    aud = signed_in("aud", "auditor")
    rita = create_user(session, actor="test:ui", username="rita", password=PASSWORD,
                       roles=frozenset({"reviewer"}))
    listed = aud.get("/people").get_data(as_text=True)
    assert "rita" in listed and "reviewer" in listed
    detail = aud.get(f"/people/{rita.person_id}").get_data(as_text=True)
    assert "Grant role" not in detail and "Disable this person" not in detail
    refused = aud.post(f"/people/{rita.person_id}/disable", data={"csrf_token": token(aud, "/people")})
    assert refused.status_code == 403
    assert signed_in("rev", "reviewer").get("/people").status_code == 403


def test_the_last_admin_cannot_disable_themself_in_the_ui(signed_in, token, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    person = find_user(session, "ann").person_id  # type: ignore[union-attr]
    refused = ann.post(f"/people/{person}/disable", data={"csrf_token": token(ann, f"/people/{person}")})
    assert refused.status_code == 409
    assert "last active admin" in refused.get_data(as_text=True)


def test_sign_ins_failed_sign_ins_and_sign_outs_are_audit_events(app, session):  # type: ignore[no-untyped-def]
    user = create_user(session, actor="test:ui", username="rita", password=PASSWORD,
                       roles=frozenset({"reviewer"}))
    client = app.test_client()
    attempted = "rita-" + "x" * 100
    assert sign_in(client, attempted, "wrong-password").status_code == 200
    assert sign_in(client, "rita", "wrong-password").status_code == 200
    assert sign_in(client, "rita").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})

    failed = events(session, "user.sign_in_failed")
    assert [(e.actor, e.target, e.after["username"]) for e in failed] == [  # type: ignore[index]
        ("anonymous", "user:unknown", attempted[:32]), ("anonymous", f"user:{user.id}", "rita")]
    assert "wrong-password" not in str([e.after for e in failed])
    [signed] = events(session, "user.sign_in")
    assert (signed.actor, signed.target, signed.after["via"]) == (  # type: ignore[index]
        "user:rita", f"user:{user.id}", "password")
    [out] = events(session, "user.sign_out")
    assert (out.actor, out.target) == ("user:rita", f"user:{user.id}")
