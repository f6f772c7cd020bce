"""Fixtures for the HTTP tests of the JSON API.

Every test here starts from a copy of a database that, on top of the migrated and seeded one,
already holds two users with admin-kind keys: alice (role admin) and audrey (role auditor).
Making them once per session instead of once per test saves a scrypt password hash each time.

Plain helpers live in each test module: two conftest modules outside a package share the module
name `conftest`, so neither can be imported from reliably.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from databases import copy_database
from factories import make_user_key
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from govern import create_app
from govern.extensions import db


@pytest.fixture(scope="session")
def api_template(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """(database URL, role -> key) of the seeded database plus alice and audrey."""
    url = copy_database(template_db, tmp_path_factory.mktemp("api-template"))
    engine = create_engine(url)
    with Session(engine) as session:
        keys = {"admin": make_user_key(session, "alice", frozenset({"admin"})),
                "auditor": make_user_key(session, "audrey", frozenset({"auditor"}))}
    engine.dispose()
    return url, keys


@pytest.fixture
def database_url(instance: Path, api_template: tuple[str, dict[str, str]]) -> str:
    """Overrides the shared fixture: each test's database starts from the API template."""
    return copy_database(api_template[0], instance)


@pytest.fixture
def admin(api_template: tuple[str, dict[str, str]]) -> dict[str, str]:
    """Headers carrying the admin key of user alice (role admin)."""
    return {"Authorization": f"Bearer {api_template[1]['admin']}"}


@pytest.fixture
def auditor(api_template: tuple[str, dict[str, str]]) -> dict[str, str]:
    """Headers carrying the admin-kind key of user audrey, who holds only the auditor role."""
    return {"Authorization": f"Bearer {api_template[1]['auditor']}"}


@pytest.fixture
def app_with(env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Factory: an app on the test instance with extra GOVERN_* settings; closed afterwards."""
    apps: list[Flask] = []

    def make(**overrides: str) -> Flask:
        app = create_app({**env, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            app.extensions["govern.runtime"].stop()
            db.engine.dispose()
