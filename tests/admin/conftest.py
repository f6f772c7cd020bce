"""Signing in to the admin UI through its real login form (CSRF token and all)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from ui import PASSWORD, csrf_token, sign_in

from govern.identity.users import create_user


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
