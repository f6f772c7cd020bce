"""How govern connects to its database: engine options and SQLite pragmas, shared by the Flask app
and the decision log's writer process (which builds its own engine without Flask)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url


def private_folder(path: Path) -> None:
    """Make the folder `path` (created if missing) reachable by its owner only: it holds the
    database, the development secret and the signing key."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(path, 0o700)


def private_file(path: Path) -> None:
    """Make the file `path` readable and writable by its owner only, creating it empty if missing
    (an empty file is an empty SQLite database). SQLite gives a database's -wal and -shm files the
    database's mode, so they are private too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        return  # a folder that is not there or not ours: opening the database says so, clearly
    _owner_only(path, 0o600)


def private_database(database_url: str) -> None:
    """private_file for a SQLite database file; nothing for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        private_file(Path(url.database))


def _owner_only(path: Path, mode: int) -> None:
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(mode)
    except OSError:
        pass  # not ours to change (another owner): left as the operator made it


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
    """An exclusive flock on `path` while the block runs; reusable. A descriptor of its own per
    turn, so the threads of one process exclude each other too; a bare os.open, which takes half
    the time of a Python file object (4 against 9 us a turn)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
