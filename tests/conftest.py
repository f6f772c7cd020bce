"""Shared fixtures. The test database is built by running the migrations once per session (no
create_all anywhere); each test gets its own copy of that file."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from databases import BACKEND, copy_database, empty_database
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright
from ui import PASSWORD, csrf_token, sign_in
from url_builders import share as share_url_builders
from werkzeug.serving import BaseWSGIServer, make_server

from govern import create_app
from govern.cli import cli, prepare_database
from govern.extensions import db
from govern.identity import users
from govern.identity.users import create_user

share_url_builders()

SECRET = "test-secret-" + "x" * 40
CHROMIUM = "/usr/bin/chromium"  # the Debian package; tests/system-packages.sh installs it
BROWSER_STEP_TIMEOUT_MS = 20_000
# In-process tests hash passwords with scrypt at n=2**10 instead of 2**15: the same algorithm and
# code path at a fraction of a second less per account and sign-in. Tests marked
# production_password_hash keep the shipped work factor (its value, and races that need the check
# to take as long as it does in production).
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"


def environment(instance: Path, **overrides: str) -> dict[str, str]:
    return {
        "GOVERN_ENV": "testing",
        "GOVERN_INSTANCE_PATH": str(instance),
        "GOVERN_DATABASE_URL": f"sqlite:///{instance / 'govern.db'}",
        "GOVERN_SECRET_KEY": SECRET,
        "GOVERN_REFRESH_INTERVAL": "0.05",
        # In-process test apps commit in the test process; `govern serve` tests use the default.
        "GOVERN_DECISION_LOG_WRITER": "thread",
        **overrides,
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND != "sqlite":
        skip = pytest.mark.skip(reason="runs once, on SQLite: about SQLite, no database, or the browser")
        for item in items:
            # A browser test is about pages in Chromium; the rules behind them are the services',
            # which the in-process tests hold on both databases. Once is enough for the browser.
            if "sqlite_only" in item.keywords or "browser" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "production_password_hash" not in request.keywords:
        monkeypatch.setattr(users, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a database migrated from empty and seeded with the default policy, made once."""
    instance = tmp_path_factory.mktemp("template")
    url = empty_database(instance)
    app = create_app(environment(instance, GOVERN_DATABASE_URL=url))
    with app.app_context():
        prepare_database(app)
        db.engine.dispose()
    return url


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    folder = tmp_path / "instance"
    folder.mkdir()
    return folder


@pytest.fixture
def database_url(instance: Path, template_db: str) -> str:
    """This test's own copy of the template database."""
    return copy_database(template_db, instance)


@pytest.fixture
def env(instance: Path, database_url: str) -> dict[str, str]:
    return environment(instance, GOVERN_DATABASE_URL=database_url)


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(env)
    # The test holds one app context, so requests share its session; end each request's read
    # transaction as a server does, or the next request would read an old snapshot.
    app.teardown_request(lambda _error: db.session.rollback())
    with app.app_context():
        yield app
        app.extensions["govern.runtime"].stop()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask):  # type: ignore[no-untyped-def]
    return db.session


class Cli:
    """Runs `govern ...` in-process against the test instance."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)


@pytest.fixture
def govern(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Cli(env)


@pytest.fixture
def ui_login(session) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """ui_login(client, username, roles) makes the user, signs in through the /login form (with its
    CSRF token) and returns the session's CSRF token for later form posts."""

    def sign_in_as(client: FlaskClient, username: str, roles: frozenset[str]) -> str:
        create_user(session, actor="test:factory", username=username, password=PASSWORD, roles=roles)
        response = sign_in(client, username, PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)
        return csrf_token(client, "/")

    return sign_in_as


@dataclass
class LiveServer:
    url: str
    server: BaseWSGIServer
    thread: threading.Thread


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test app served over real HTTP on a free port of 127.0.0.1 (for the browser)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", server, thread)
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(BROWSER_STEP_TIMEOUT_MS)
    yield page
    context.close()
