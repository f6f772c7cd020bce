"""The database backend the suite runs on: SQLite files (default) or a throwaway PostgreSQL
cluster on 127.0.0.1 when GOVERN_TEST_DATABASE=postgresql.

Tests never build a schema themselves: a template database is migrated once per session and each
test gets a copy (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.util import Finalize
from pathlib import Path

import sqlalchemy

BACKEND = os.environ.get("GOVERN_TEST_DATABASE", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"GOVERN_TEST_DATABASE must be sqlite or postgresql, not {BACKEND!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """initdb + pg_ctl in a temporary folder, as the `postgres` user when running as root (the
    server refuses root); trust authentication on 127.0.0.1 only; stopped when the session ends."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise RuntimeError("GOVERN_TEST_DATABASE=postgresql needs the Debian postgresql package")
        self._bin = Path(binaries[-1])
        self._root = Path(tempfile.mkdtemp(prefix="govern-pg-"))
        self.port = _free_port()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self._root, "postgres")
        self._run("initdb", "-D", str(self._root / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        # After the apps' runtimes (Finalize priority 10) have stopped their refresh threads: stopped
        # first (as atexit would, registered earlier), it left them logging "connection refused"
        # into a closed pytest stream.
        Finalize(self, self.stop, exitpriority=0)
        self._admin = sqlalchemy.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self._root / "data"), "-l", str(self._root / "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=300")

    def halt(self) -> None:
        """Stop the server, dropping every connection (it can be started again)."""
        self._run("pg_ctl", "-D", str(self._root / "data"), "-m", "fast", "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_user, str(self._bin / tool), *args], check=True,
                       capture_output=True, timeout=120)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def create(self, template: str | None = None) -> str:
        name = "g" + uuid.uuid4().hex[:16]
        clause = f" TEMPLATE {template}" if template else ""
        with self._admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}{clause}"))
        return name

    def stop(self) -> None:
        self._admin.dispose()
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self._root / "data"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self._root, ignore_errors=True)


_cluster: PostgresCluster | None = None


def _postgres() -> PostgresCluster:
    global _cluster
    if _cluster is None:
        _cluster = PostgresCluster()
    return _cluster


def empty_database(folder: Path) -> str:
    """The URL of a new, empty database for an instance folder."""
    if BACKEND == "sqlite":
        return f"sqlite:///{folder / 'govern.db'}"
    return _postgres().url(_postgres().create())


def copy_database(source_url: str, folder: Path) -> str:
    """A copy of the database at `source_url` (nobody may be connected to it), for `folder`."""
    if BACKEND == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source_url.removeprefix("sqlite:///"), folder / "govern.db")
        return f"sqlite:///{folder / 'govern.db'}"
    return _postgres().url(_postgres().create(template=source_url.rsplit("/", 1)[1]))


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one SQL statement, on a connection opened and closed for it."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(sql))]
    finally:
        engine.dispose()


def new_postgres_database() -> str:
    """A new empty database on the session's PostgreSQL cluster, whatever the suite's backend."""
    return _postgres().url(_postgres().create())


@contextmanager
def decision_log_locked(url: str) -> Iterator[None]:
    """Another connection holds a lock that makes every commit into the decision table wait until
    the block ends: SQLite's write lock on the file, or PostgreSQL's EXCLUSIVE lock on the table
    (which still lets readers in)."""
    if url.startswith("sqlite"):
        lock = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("LOCK TABLE decision IN EXCLUSIVE MODE"))
            yield
            conn.rollback()
    finally:
        engine.dispose()
