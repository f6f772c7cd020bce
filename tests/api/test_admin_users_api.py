"""/v1/admin/users: people and accounts over the admin API, with JSON problems on bad input, and a
disabled person's keys and sessions refused on their very next request."""

from __future__ import annotations

import requests
from factories import ACTOR, make_user_key
from sqlalchemy import select
from ui import PASSWORD, TOKEN, sign_in

from govern.identity.sso_accounts import sign_in_identity
from govern.identity.users import create_user, find_user
from govern.models import AuditEvent


def person_id(session, username: str) -> int:  # type: ignore[no-untyped-def]
    user = find_user(session, username)
    assert user is not None
    return user.person_id


def test_the_list_shows_each_person_with_their_accounts_to_admins_and_auditors(client, admin, auditor):  # type: ignore[no-untyped-def]
    for headers in (admin, auditor):
        response = client.get("/v1/admin/users", headers=headers)
        assert response.status_code == 200
        people = {p["display_name"]: p for p in response.json["people"]}
        assert [a["username"] for a in people["audrey"]["accounts"]] == ["audrey"]
        assert people["audrey"]["accounts"][0]["roles"] == ["auditor"]
        assert people["audrey"]["accounts"][0]["kind"] == "local"
        assert people["alice"]["active"] is True


def test_an_auditor_cannot_change_anyone(client, session, auditor):  # type: ignore[no-untyped-def]
    alice = find_user(session, "alice")
    assert alice is not None
    refused = client.post(f"/v1/admin/users/{alice.id}/roles", json={"role": "board"}, headers=auditor)
    assert refused.status_code == 403
    assert refused.json["code"] == "role_required"
    disable = client.post(f"/v1/admin/users/people/{alice.person_id}/disable", headers=auditor)
    assert disable.status_code == 403


def test_the_only_admin_cannot_grant_a_governance_role(client, session, admin):  # type: ignore[no-untyped-def]
    audrey = find_user(session, "audrey")
    assert audrey is not None
    refused = client.post(f"/v1/admin/users/{audrey.id}/roles", json={"role": "reviewer"}, headers=admin)
    assert (refused.status_code, refused.json["code"]) == (403, "second_person_required")
    session.expire_all()
    assert find_user(session, "audrey").role_set == {"auditor"}  # type: ignore[union-attr]


def test_a_role_grant_waits_for_a_second_admin_and_a_removal_applies_at_once(client, session, admin):  # type: ignore[no-untyped-def]
    bob = {"Authorization": f"Bearer {make_user_key(session, 'bob', frozenset({'admin'}))}"}
    audrey = find_user(session, "audrey")
    assert audrey is not None
    proposed = client.post(f"/v1/admin/users/{audrey.id}/roles", json={"role": "reviewer"}, headers=admin)
    assert (proposed.status_code, proposed.json["kind"], proposed.json["state"]) == (
        202, "role.grant", "pending")
    own = client.post(f"/v1/admin/proposals/{proposed.json['id']}/approve", headers=admin)
    assert (own.status_code, own.json["code"]) == (403, "own_proposal")
    session.expire_all()
    assert find_user(session, "audrey").role_set == {"auditor"}  # type: ignore[union-attr]

    approved = client.post(f"/v1/admin/proposals/{proposed.json['id']}/approve", headers=bob)
    assert approved.status_code == 200, approved.json
    assert approved.json["result"]["roles"] == ["auditor", "reviewer"]
    removed = client.delete(f"/v1/admin/users/{audrey.id}/roles/auditor", headers=admin)
    assert removed.json["roles"] == ["reviewer"]
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "user.roles")
                             .order_by(AuditEvent.id)).scalars().all()
    assert [(e.actor, e.target, e.after) for e in events] == [
        ("user:bob", f"user:{audrey.id}", {"roles": ["auditor", "reviewer"]}),
        ("user:alice", f"user:{audrey.id}", {"roles": ["reviewer"]}),
    ]


def test_moving_an_account_to_another_person_waits_for_a_second_admin(client, session, admin):  # type: ignore[no-untyped-def]
    """Re-pointing an account would make one person two to the duty checks: it is guarded."""
    make_user_key(session, "bob", frozenset({"admin"}))
    alice, audrey = find_user(session, "alice"), find_user(session, "audrey")
    assert alice is not None and audrey is not None
    proposed = client.put(f"/v1/admin/users/{audrey.id}/person", json={"person_id": alice.person_id},
                          headers=admin)
    assert (proposed.status_code, proposed.json["kind"]) == (202, "account.link")
    session.expire_all()
    assert find_user(session, "audrey").person_id != alice.person_id  # type: ignore[union-attr]


def test_bad_input_answers_a_json_problem_and_changes_nothing(client, session, admin):  # type: ignore[no-untyped-def]
    audrey = find_user(session, "audrey")
    assert audrey is not None
    cases = [
        (client.post(f"/v1/admin/users/{audrey.id}/roles", json={"role": "wizard"}, headers=admin),
         400, "unknown_role"),
        (client.post(f"/v1/admin/users/{audrey.id}/roles", json={}, headers=admin), 400, "missing_field"),
        (client.post(f"/v1/admin/users/{audrey.id}/roles", data="{", headers=admin), 400, "malformed_json"),
        (client.post("/v1/admin/users/999999/roles", json={"role": "board"}, headers=admin),
         404, "user_not_found"),
        (client.put(f"/v1/admin/users/{audrey.id}/person", json={"person_id": "one"}, headers=admin),
         400, "invalid_field"),
        (client.put(f"/v1/admin/users/{audrey.id}/person", json={"person_id": 999999}, headers=admin),
         404, "person_not_found"),
        (client.patch(f"/v1/admin/users/people/{audrey.person_id}", json={"email": "not an address"},
                      headers=admin), 400, "invalid_email"),
        (client.post("/v1/admin/users/people/999999/disable", headers=admin), 404, "person_not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.json
        assert response.content_type == "application/problem+json"
        assert response.json["code"] == code
    session.expire_all()
    assert find_user(session, "audrey").role_set == {"auditor"}  # type: ignore[union-attr]


def test_a_disabled_persons_admin_key_is_refused_on_its_next_request_and_works_after_re_enable(  # type: ignore[no-untyped-def]
        client, session, admin, auditor):
    audrey = person_id(session, "audrey")
    assert client.get("/v1/admin/users", headers=auditor).status_code == 200

    disabled = client.post(f"/v1/admin/users/people/{audrey}/disable", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json["active"] is False

    refused = client.get("/v1/admin/users", headers=auditor)  # no wait: the very next request
    assert refused.status_code == 401
    assert refused.json["code"] == "key_revoked"

    assert client.post(f"/v1/admin/users/people/{audrey}/enable", headers=admin).json["active"] is True
    assert client.get("/v1/admin/users", headers=auditor).status_code == 200


def browser_session(base: str, username: str) -> requests.Session:
    """A session signed in through the real /login form over real HTTP, as a browser would."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10).text
    match = TOKEN.search(page)
    assert match is not None
    answer = browser.post(f"{base}/login", timeout=10, allow_redirects=False, data={
        "username": username, "password": PASSWORD, "csrf_token": match.group(1) or match.group(2)})
    assert answer.status_code == 302, answer.text
    return browser


def test_a_disabled_persons_live_session_is_refused_by_the_admin_api(live_server, client, session, admin):  # type: ignore[no-untyped-def]
    create_user(session, actor=ACTOR, username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    ben = browser_session(live_server.url, "ben")
    assert ben.get(f"{live_server.url}/v1/admin/users", timeout=10).status_code == 200

    client.post(f"/v1/admin/users/people/{person_id(session, 'ben')}/disable", headers=admin)

    assert ben.get(f"{live_server.url}/v1/admin/users", timeout=10).status_code == 401
    client.post(f"/v1/admin/users/people/{person_id(session, 'ben')}/enable", headers=admin)
    # The sessions ended at the disable stay ended; signing in again works.
    assert ben.get(f"{live_server.url}/v1/admin/users", timeout=10).status_code == 401
    again = browser_session(live_server.url, "ben")
    assert again.get(f"{live_server.url}/v1/admin/users", timeout=10).status_code == 200


def test_the_last_admin_cannot_disable_themself(client, session, admin):  # type: ignore[no-untyped-def]
    refused = client.post(f"/v1/admin/users/people/{person_id(session, 'alice')}/disable", headers=admin)
    assert refused.status_code == 409
    assert refused.json["code"] == "last_admin"


def test_linking_an_sso_account_over_the_api_makes_one_person_and_adds_no_role(client, session, admin):  # type: ignore[no-untyped-def]
    idp = sign_in_identity(session, issuer="https://idp.example", subject="a1", username="audrey-sso",
                           roles=frozenset({"reviewer"}))
    audrey = person_id(session, "audrey")
    linked = client.put(f"/v1/admin/users/{idp.id}/person", json={"person_id": audrey}, headers=admin)
    assert linked.status_code == 200
    assert linked.json == {"id": idp.id, "username": "audrey-sso", "person_id": audrey,
                           "roles": ["reviewer"], "active": True}
    person = client.get(f"/v1/admin/users/people/{audrey}", headers=admin).json
    assert [(a["username"], a["kind"], a["roles"]) for a in person["accounts"]] == [
        ("audrey", "local", ["auditor"]), ("audrey-sso", "sso", ["reviewer"])]


def test_a_password_reset_answers_the_new_password_once(app, client, session, admin):  # type: ignore[no-untyped-def]
    user = create_user(session, actor=ACTOR, username="rita", password=PASSWORD,
                       roles=frozenset({"reviewer"}))
    reset = client.post(f"/v1/admin/users/{user.id}/password", headers=admin)
    assert reset.status_code == 200
    new = reset.json["password"]
    assert sign_in(app.test_client(), "rita", PASSWORD).status_code == 200  # the old one is refused
    assert sign_in(app.test_client(), "rita", new).status_code == 302
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "user.reset_password")).scalar_one()
    assert new not in str(event.after) and event.target == f"user:{user.id}"


def test_a_person_gets_a_name_and_an_email_nobody_else_has(client, session, admin):  # type: ignore[no-untyped-def]
    alice, audrey = person_id(session, "alice"), person_id(session, "audrey")
    named = client.patch(f"/v1/admin/users/people/{alice}", headers=admin,
                         json={"display_name": "Alice Liddell", "email": "Alice@Example.org"})
    assert (named.json["display_name"], named.json["email"]) == ("Alice Liddell", "alice@example.org")
    taken = client.patch(f"/v1/admin/users/people/{audrey}", json={"email": "alice@example.org"},
                         headers=admin)
    assert taken.status_code == 409
    assert taken.json["code"] == "email_taken"
