"""How govern connects to its database: engine options and SQLite pragmas, shared by the Flask app
and the decision log's writer process (which builds its own engine without Flask)."""

from __future__ import annotations

import fcntl
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, make_url


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


def writers_take_turns(database_url: str) -> AbstractContextManager[object]:
    """A reusable lock that writer processes of one SQLite database hold for each write transaction.

    SQLite lets one writer in at a time and makes the others poll, sleeping a millisecond or more
    between tries; under load that doubled the decision log's commit time and made its p99 three
    times worse. A blocking file lock hands the turn over as soon as it is free. Other databases
    queue writers themselves.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return nullcontext()
    return _FileLock(Path(url.database).with_name(Path(url.database).name + "-writers.lock"))


class _FileLock:
    """An exclusive flock on `path` while the block runs; reusable."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> _FileLock:
        self._file = self._path.open("a")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None
