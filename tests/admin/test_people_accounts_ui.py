"""Adding a local account on the People page: a guarded change (it grants roles), its password made
by govern and shown once, uncached, to whoever applies it, directly or by approving it."""

from __future__ import annotations

import re

import pytest
from flask import g
from ui import sign_in

from govern.identity.users import create_user, find_user

PASSWORD_SHOWN = re.compile(r'<code class="secret">([^<]+)</code>')


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):  # type: ignore[no-untyped-def]
    """Each request reads its user afresh, as on a server (the test holds one app context)."""
    app.teardown_request(lambda _error: g.pop("_login_user", None))


def add(client, token, username: str, *roles: str):  # type: ignore[no-untyped-def]
    return client.post("/people/accounts", data={"csrf_token": token(client, "/people"),
                                                 "username": username, "roles": list(roles)})


def test_a_single_admin_adds_an_auditor_and_sees_the_password_once(signed_in, token, app, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")

    made = add(ann, token, "audrey", "auditor")

    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    shown = PASSWORD_SHOWN.search(made.get_data(as_text=True))
    assert shown is not None
    assert find_user(session, "audrey").role_set == {"auditor"}
    assert sign_in(app.test_client(), "audrey", shown.group(1)).status_code == 302
    assert shown.group(1) not in ann.get("/people").get_data(as_text=True)


def test_a_single_admin_cannot_grant_a_governance_role_alone(signed_in, token, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")

    refused = add(ann, token, "rev", "reviewer")

    assert refused.status_code == 400
    assert "needs a second admin to approve it, and there is none" in refused.get_data(as_text=True)
    assert find_user(session, "rev") is None


def test_the_approver_of_a_new_account_sees_its_password_once(signed_in, token, app, session):  # type: ignore[no-untyped-def]
    ann, ben = signed_in("ann", "admin"), signed_in("ben", "admin")
    url = add(ann, token, "rev", "reviewer").location

    approved = ben.post(f"{url}/approve", data={"csrf_token": token(ben, url), "reason": ""})

    assert approved.status_code == 200 and approved.headers["Cache-Control"] == "no-store"
    shown = PASSWORD_SHOWN.search(approved.get_data(as_text=True))
    assert shown is not None
    assert find_user(session, "rev").role_set == {"reviewer"}
    assert sign_in(app.test_client(), "rev", shown.group(1)).status_code == 302
    assert shown.group(1) not in ben.get(url).get_data(as_text=True)


def test_bad_accounts_are_form_errors_and_nothing_is_made(signed_in, token, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    create_user(session, actor="test", username="taken", password="a-long-password-123",
                roles=frozenset({"auditor"}))

    no_role = add(ann, token, "nobody")
    taken = add(ann, token, "taken", "auditor")

    assert no_role.status_code == 400 and "choose at least one role" in no_role.get_data(as_text=True)
    assert taken.status_code == 400 and 'class="error"' in taken.get_data(as_text=True)
    assert find_user(session, "nobody") is None


def test_only_an_admin_adds_accounts_and_only_with_the_form_token(signed_in, token, session):  # type: ignore[no-untyped-def]
    auditor = signed_in("aud", "auditor")
    admin = signed_in("ann", "admin")

    assert 'action="/people/accounts"' not in auditor.get("/people").get_data(as_text=True)
    assert auditor.post("/people/accounts", data={"csrf_token": token(auditor, "/people"),
                                                  "username": "x", "roles": ["auditor"]}).status_code == 403
    assert admin.post("/people/accounts", data={"username": "y", "roles": ["auditor"]}).status_code == 400
    assert find_user(session, "x") is None and find_user(session, "y") is None


def test_the_people_list_sorts_and_pages_fifty_at_a_time(signed_in, session):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    for number in range(51):
        create_user(session, actor="test", username=f"user{number:02d}", password="a-long-password-123",
                    roles=frozenset({"auditor"}))

    first = admin.get("/people?sort=-name").get_data(as_text=True)
    second = admin.get("/people?page=2&sort=-name").get_data(as_text=True)

    names = ["ann", *(f"user{number:02d}" for number in range(51))]
    shown = [name for name in sorted(names, reverse=True) if f"<code>{name}</code>" in first]
    assert shown == sorted(names, reverse=True)[:50]
    assert [name for name in names if f"<code>{name}</code>" in second] == ["ann", "user00"]
    assert 'href="/people?page=2&amp;sort=-name">Next page' in first
    assert "Next page" not in second
