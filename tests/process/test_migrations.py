"""The schema comes only from migrations/: one head, an upgrade from an empty database, and no
difference between the models and the migrated schema. Production mode refuses to start without
a real secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect

from govern import create_app
from govern.extensions import db
from govern.models import Base
from govern.resources import resource_dir

if TYPE_CHECKING:  # annotations only: tests get it through the govern_command fixture
    from conftest import GovernCommand

def scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    return ScriptDirectory.from_config(config)


@pytest.fixture
def empty_app(tmp_path: Path, govern_command: GovernCommand) -> Iterator[Flask]:
    """The app on a database file that does not exist yet."""
    app = create_app(govern_command.environment(tmp_path / "empty"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_migrations_have_a_single_head_and_a_single_base():
    assert len(scripts().get_heads()) == 1
    assert len(scripts().get_bases()) == 1


def test_upgrade_from_an_empty_database_reaches_the_head(empty_app: Flask):
    upgrade(directory=empty_app.extensions["migrate"].directory)

    with db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
        assert MigrationContext.configure(conn).get_current_heads() == tuple(scripts().get_heads())


def test_migrated_schema_matches_the_models(empty_app: Flask):
    upgrade(directory=empty_app.extensions["migrate"].directory)

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []


# The secret is checked before any database is opened: once is enough.
@pytest.mark.sqlite_only
@pytest.mark.parametrize(("command", "secret"), [
    (["init"], None),
    (["serve", "--port", "1"], None),
    (["init"], "changeme"),
    (["serve", "--port", "1"], "short-" + "z" * 10),
])
def test_production_mode_without_a_real_secret_refuses_to_start(
        tmp_path: Path, govern_command: GovernCommand, command: list[str], secret: str | None):
    folder = tmp_path / "instance"
    env = govern_command.environment(folder, GOVERN_ENV="production")
    if secret is None:
        del env["GOVERN_SECRET_KEY"]
    else:
        env["GOVERN_SECRET_KEY"] = secret

    result = govern_command.run(env, *command, cwd=tmp_path, check=False)

    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "GOVERN_SECRET_KEY" in lines[0]
    assert not (folder / "govern.db").exists()


@pytest.mark.sqlite_only
def test_production_mode_with_a_real_secret_starts(tmp_path: Path, govern_command: GovernCommand):
    env = govern_command.environment(tmp_path / "instance", GOVERN_ENV="production",
                                     GOVERN_SECRET_KEY="a-real-production-secret-" + "q" * 30)

    result = govern_command.run(env, "init", cwd=tmp_path)

    assert result.stdout.startswith("govern is ready")
