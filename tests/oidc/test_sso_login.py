"""Single sign-on to the admin UI through the real provider, in a real browser (Debian chromium),
and the break-glass local login that can be switched off."""

from __future__ import annotations

from typing import Any

import pytest
from factories import ACTOR
from flask import Flask
from playwright.sync_api import Page

from govern import create_app
from govern.extensions import db
from govern.identity.issuers import create_issuer
from govern.identity.people import person_of, update_person
from govern.identity.users import create_user

SECRET_ENV = "GOVERN_SSO_TEST_SECRET"
ROLES = {"govern-admins": ["admin"], "govern-auditors": ["auditor"]}


@pytest.fixture
def sso_issuer(session, live_server, oidc_provider, issuer_doc, monkeypatch) -> dict[str, Any]:
    """The provider as a trusted issuer offering admin sign-in, with a client registered for
    this server's callback; the client secret only in the environment."""
    client_id, secret = oidc_provider.register_client(f"{live_server.url}/login/sso/testidp/callback")
    monkeypatch.setenv(SECRET_ENV, secret)
    doc = {**issuer_doc, "sso": {"client_id": client_id, "client_secret_env": SECRET_ENV, "roles": ROLES}}
    create_issuer(session, doc, actor=ACTOR)
    return doc


def sign_in_at_provider(page: Page, login: str) -> None:
    """The provider's own sign-in and consent pages."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]")
    page.click("button[type=submit]")  # consent


def signed_in_as(page: Page) -> str:
    """The signed-in user and their roles, as the header of every page shows them."""
    return page.inner_text("header .who span")


@pytest.mark.usefixtures("sso_issuer")
def test_sign_in_with_the_provider_lands_on_the_dashboard_with_the_mapped_role(page, live_server):
    page.goto(f"{live_server.url}/login")
    page.click("text=Sign in with Test IdP")
    sign_in_at_provider(page, "ada")

    page.wait_for_url(f"{live_server.url}/dashboard")
    assert page.inner_text("main h1") == "Dashboard"
    assert signed_in_as(page) == "ada@example.org · admin"
    # The session is a real admin session: an admin-only page and the admin API answer it.
    assert page.request.get(f"{live_server.url}/models/new").status == 200
    assert page.request.get(f"{live_server.url}/v1/admin/issuers").status == 200


@pytest.mark.usefixtures("sso_issuer")
def test_group_mapped_to_auditor_gets_only_the_auditor_role(page, live_server):
    page.goto(f"{live_server.url}/login/sso/testidp")
    sign_in_at_provider(page, "otto")

    page.wait_for_url(f"{live_server.url}/dashboard")
    assert signed_in_as(page) == "otto@example.org · auditor"
    assert page.request.get(f"{live_server.url}/models/new").status == 403


@pytest.mark.usefixtures("sso_issuer")
def test_identity_without_a_mapped_group_is_refused(page, live_server):
    page.goto(f"{live_server.url}/login/sso/testidp")
    sign_in_at_provider(page, "vera")

    page.wait_for_selector("h1:text('Sign-in refused')")
    assert "grants you no govern role" in page.inner_text("main")
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/login"


@pytest.mark.usefixtures("sso_issuer")
def test_callback_with_a_forged_state_is_refused(client):
    response = client.get("/login/sso/testidp/callback?code=stolen&state=forged")

    assert response.status_code == 401
    assert b"Sign-in refused" in response.data


@pytest.mark.usefixtures("sso_issuer")
def test_login_page_offers_the_provider_beside_the_break_glass_form(client):
    page = client.get("/login").get_data(as_text=True)

    assert 'href="/login/sso/testidp">Sign in with Test IdP</a>' in page
    assert 'name="password"' in page


@pytest.mark.usefixtures("sso_issuer")
def test_local_login_switched_off_leaves_only_single_sign_on(env):
    app: Flask = create_app({**env, "GOVERN_LOCAL_LOGIN": "off"})
    try:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        assert "Sign in with Test IdP" in page
        assert 'name="password"' not in page
        refused = client.post("/login", data={"username": "admin", "password": "whatever-it-is"})
        assert refused.status_code == 403
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(("authoritative", "joins"), [(["example.org"], True), ([], False)],
                         ids=["authoritative", "not-authoritative"])
def test_only_an_issuer_authoritative_for_the_domain_joins_the_person_with_that_email(  # type: ignore[no-untyped-def]
        page, live_server, session, oidc_provider, issuer_doc, monkeypatch, authoritative, joins):
    local = create_user(session, actor=ACTOR, username="ada-local", password="a-long-password-123",
                        roles=frozenset({"reviewer"}))
    update_person(session, actor=ACTOR, person_id=local.person_id, email="ada@example.org")
    client_id, secret = oidc_provider.register_client(f"{live_server.url}/login/sso/testidp/callback")
    monkeypatch.setenv(SECRET_ENV, secret)
    create_issuer(session, {**issuer_doc, "sso": {"client_id": client_id, "client_secret_env": SECRET_ENV,
                                                  "roles": ROLES, "authoritative_domains": authoritative}},
                  actor=ACTOR)

    page.goto(f"{live_server.url}/login/sso/testidp")
    sign_in_at_provider(page, "ada")
    page.wait_for_url(f"{live_server.url}/dashboard")

    # The provider's e-mail is verified; the role is only the mapping's, never the person's others.
    assert signed_in_as(page) == "ada@example.org · admin"
    session.expire_all()
    assert (person_of(session, "user:ada@example.org") == local.person_id) is joins
