"""Signing in to the admin UI through its real login form (CSRF token and all)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import g
from flask.testing import FlaskClient

from govern.identity.users import create_user

PASSWORD = "a-long-password-123"
TOKEN = re.compile(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"|'
                   r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the first form on the page at `url`."""
    # The `app` fixture holds one app context for the whole test, so flask.g outlives each request;
    # Flask-WTF caches the token in g and would not put it into this client's session otherwise.
    g.pop("csrf_token", None)
    match = TOKEN.search(client.get(url).get_data(as_text=True))
    assert match is not None, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


@pytest.fixture
def signed_in(app, session) -> Callable[..., FlaskClient]:  # type: ignore[no-untyped-def]
    """signed_in("rita", "reviewer") -> a client of a new user holding those roles, signed in."""

    def make(username: str, *roles: str) -> FlaskClient:
        create_user(session, actor="test:ui", username=username, password=PASSWORD, roles=frozenset(roles))
        client = app.test_client()
        response = sign_in(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def token() -> Callable[[FlaskClient, str], str]:
    return csrf_token


@pytest.fixture
def password() -> str:
    """The password of every user made by `signed_in`."""
    return PASSWORD
