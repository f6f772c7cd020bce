"""How govern connects to its database: engine options and SQLite pragmas, shared by the Flask app
and the decision log's writer process (which builds its own engine without Flask)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the decision it records is answered.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def engine_options(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        # Writers wait up to 5 s for the lock; the decision log's own timeout answers 503 sooner.
        return {"connect_args": {"timeout": 5, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def watch_connections(engine: Engine) -> None:
    event.listen(engine, "connect", sqlite_pragmas)


def new_engine(database_url: str) -> Engine:
    engine = create_engine(database_url, **engine_options(database_url))
    watch_connections(engine)
    return engine
