"""Migration 0006: accounts that existed before people did become one person each, named after
the account, and the new person table hands out ids past them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from databases import empty_database
from flask_migrate import upgrade
from sqlalchemy import text

from govern import create_app
from govern.extensions import db
from govern.identity.people import new_person

if TYPE_CHECKING:  # annotations only: tests get it through the govern_command fixture
    from conftest import GovernCommand

BEFORE_PEOPLE = "0004"


def test_existing_accounts_become_one_person_each(tmp_path: Path, govern_command: GovernCommand):
    instance = tmp_path / "instance"
    instance.mkdir()
    app = create_app(govern_command.environment(instance, GOVERN_DATABASE_URL=empty_database(instance)))
    with app.app_context():
        try:
            directory = app.extensions["migrate"].directory
            upgrade(directory=directory, revision=BEFORE_PEOPLE)
            with db.engine.begin() as conn:
                for name, active in (("ada", True), ("bob", False)):
                    conn.execute(text(
                        "INSERT INTO user_account (username, password_hash, roles, active, created_at, "
                        "session_epoch) VALUES (:name, '!', 'admin', :active, CURRENT_TIMESTAMP, 0)"),
                        {"name": name, "active": active})
            upgrade(directory=directory)

            with db.engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT u.username, p.display_name, p.email, p.active FROM user_account u "
                    "JOIN person p ON p.id = u.person_id ORDER BY u.username")).all()
                people = conn.execute(text("SELECT COUNT(*) FROM person")).scalar_one()
            assert [tuple(row) for row in rows] == [("ada", "ada", None, True), ("bob", "bob", None, False)]
            assert people == 2
            assert new_person(db.session(), "carol").id == 3  # no clash with the migrated ids
            db.session.rollback()
        finally:
            db.session.remove()
            db.engine.dispose()
