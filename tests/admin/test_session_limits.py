"""Admin UI sessions end after GOVERN_SESSION_IDLE_MINUTES without a request and
GOVERN_SESSION_MAX_HOURS after sign-in, whatever the activity: the browser goes back to the
sign-in page with a message, and the admin API refuses the cookie."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from ui import sign_in

from govern import create_app
from govern.api.auth import ISSUED_AT, SEEN_AT
from govern.config import ConfigError, load_settings
from govern.extensions import db
from govern.identity.users import create_user

MINUTE, HOUR = 60, 3600


def load_user_per_request(app: Flask) -> None:
    """Each request reads its user afresh, as on a server: the test holds one app context, whose
    flask.g would otherwise keep the user Flask-Login loaded for an earlier request."""
    app.teardown_request(lambda _error: g.pop("_login_user", None))


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app: Flask) -> None:
    load_user_per_request(app)


def move_session(client: FlaskClient, *, issued_ago: float | None = None,
                 seen_ago: float | None = None) -> None:
    """Pretend the session began `issued_ago` seconds ago and last answered `seen_ago` seconds ago."""
    now = time.time()
    with client.session_transaction() as stored:
        if issued_ago is not None:
            stored[ISSUED_AT] = now - issued_ago
        if seen_ago is not None:
            stored[SEEN_AT] = now - seen_ago


def assert_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended; please sign in again." in page
    # Ended for good: the same cookie does not come back, and the admin API refuses it too.
    assert client.get("/dashboard").status_code == 302
    assert client.get("/v1/admin/users").status_code == 401


def test_a_fresh_session_is_accepted_and_activity_keeps_it(signed_in):  # type: ignore[no-untyped-def]
    client = signed_in("ada", "admin")
    assert client.get("/dashboard").status_code == 200
    move_session(client, seen_ago=29 * MINUTE)
    assert client.get("/dashboard").status_code == 200
    with client.session_transaction() as stored:
        assert time.time() - stored[SEEN_AT] < MINUTE  # the request counted as activity
    assert client.get("/v1/admin/users").status_code == 200


def test_a_session_idle_past_the_limit_is_refused(signed_in):  # type: ignore[no-untyped-def]
    client = signed_in("ada", "admin")
    move_session(client, seen_ago=31 * MINUTE)
    assert_sent_to_sign_in(client)


def test_an_active_session_is_refused_past_the_absolute_limit(signed_in):  # type: ignore[no-untyped-def]
    client = signed_in("ada", "admin")
    move_session(client, issued_ago=12 * HOUR + MINUTE, seen_ago=1)
    assert_sent_to_sign_in(client)


def test_a_session_cookie_without_its_times_is_refused(signed_in):  # type: ignore[no-untyped-def]
    """A cookie made before the limits existed (or one that lost its stamps) does not load."""
    client = signed_in("ada", "admin")
    with client.session_transaction() as stored:
        del stored[ISSUED_AT]
    assert_sent_to_sign_in(client)


def test_signing_in_again_starts_a_new_session(signed_in, password):  # type: ignore[no-untyped-def]
    client = signed_in("ada", "admin")
    move_session(client, issued_ago=12 * HOUR + MINUTE)
    assert client.get("/dashboard").status_code == 302
    assert sign_in(client, "ada", password).status_code == 302
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize(("idle", "max_hours", "seen_ago", "issued_ago", "accepted"), [
    ("5", "12", 4 * MINUTE, 4 * MINUTE, True),
    ("5", "12", 6 * MINUTE, 6 * MINUTE, False),
    ("30", "1", 1, HOUR - MINUTE, True),
    ("30", "1", 1, HOUR + MINUTE, False),
])
def test_the_limits_follow_the_settings(env, idle, max_hours, seen_ago, issued_ago, accepted):  # type: ignore[no-untyped-def]
    app = create_app({**env, "GOVERN_SESSION_IDLE_MINUTES": idle, "GOVERN_SESSION_MAX_HOURS": max_hours})
    load_user_per_request(app)
    with app.app_context():
        create_user(db.session, actor="test:ui", username="ada", password="a-long-password-123",
                    roles=frozenset({"admin"}))
        client = app.test_client()
        assert sign_in(client, "ada").status_code == 302
        move_session(client, issued_ago=issued_ago, seen_ago=seen_ago)
        assert (client.get("/dashboard").status_code == 200) is accepted
        db.session.remove()
        db.engine.dispose()


def test_session_settings_default_to_30_minutes_and_12_hours_and_must_be_positive(tmp_path: Path):
    settings = load_settings({}, tmp_path)
    assert (settings.session_idle_minutes, settings.session_max_hours) == (30, 12)
    for name in ("GOVERN_SESSION_IDLE_MINUTES", "GOVERN_SESSION_MAX_HOURS"):
        for bad in ("0", "-1", "soon"):
            with pytest.raises(ConfigError, match=name):
                load_settings({name: bad}, tmp_path)
