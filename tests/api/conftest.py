"""Fixtures for the HTTP tests of the JSON API.

Every test here starts from a copy of a database that, on top of the migrated and seeded one,
already holds two users with admin-kind keys: alice (role admin) and audrey (role auditor).
Making them once per session instead of once per test saves a scrypt password hash each time.

Plain helpers live in each test module: two conftest modules outside a package share the module
name `conftest`, so neither can be imported from reliably.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from factories import make_user_key
from sqlalchemy import create_engine
from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def api_template(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(database file, role -> key) of the seeded database plus alice and audrey."""
    path = tmp_path_factory.mktemp("api-template") / "govern.db"
    shutil.copy(template_db, path)
    engine = create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        keys = {"admin": make_user_key(session, "alice", frozenset({"admin"})),
                "auditor": make_user_key(session, "audrey", frozenset({"auditor"}))}
    engine.dispose()
    return path, keys


@pytest.fixture
def instance(tmp_path: Path, api_template: tuple[Path, dict[str, str]]) -> Path:
    """Overrides the shared fixture: the instance folder starts from the API template."""
    folder = tmp_path / "instance"
    folder.mkdir()
    shutil.copy(api_template[0], folder / "govern.db")
    return folder


@pytest.fixture
def admin(api_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """Headers carrying the admin key of user alice (role admin)."""
    return {"Authorization": f"Bearer {api_template[1]['admin']}"}


@pytest.fixture
def auditor(api_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """Headers carrying the admin-kind key of user audrey, who holds only the auditor role."""
    return {"Authorization": f"Bearer {api_template[1]['auditor']}"}
