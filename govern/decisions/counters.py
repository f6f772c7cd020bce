"""A `limits` storage backed by one SQLite file, shared by every worker process on a machine.

Registered with `limits` under the scheme `sqlite` (`sqlite:///absolute/path.db`), so it is picked
by URI like limits' own storages. It exists because per-process memory counters are wrong under
several workers (N workers would admit N times a limit) and Redis is one more server to run.

Each increment is one SQLite statement (an upsert that also restarts an expired window), so it is
atomic across processes without any lock of ours. It runs on every decision, so the file is
written without waiting for the disk (WAL, synchronous=OFF: about a quarter of the cost of
synchronous=NORMAL, whose checkpoints flush). A process that dies loses nothing; a power cut may
lose recent counts or, rarely, the file. It holds only counters, never anything govern's database
needs: deleting it (with govern stopped) merely restarts every window.

A statement waits at most `timeout` seconds in all (the decision-log timeout, given by the rate
limiter): half for this process's other threads, half for other processes' locks on the file. So a
file another process holds locked turns decisions into a fast 503, not a stall.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limits.storage import Storage

from govern.database import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID
"""

# The right-hand sides see the row as it was, so both CASEs test the old expiry.
INCREMENT = """
INSERT INTO counter (key, value, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN expires_at <= :now THEN :amount ELSE value + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :expires_at ELSE expires_at END
RETURNING value
"""

DEFAULT_TIMEOUT = 2.0


class SQLiteStorage(Storage):
    """Fixed-window counters in a SQLite file; thread-safe, and safe across processes."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = uri.removeprefix("sqlite://")
        if not path.startswith("/"):
            raise ValueError(f"a sqlite rate-limit storage needs an absolute path "
                             f"(sqlite:///path/file.db), got {uri!r}")
        self.path = path
        private_file(Path(path))
        # One connection per process, used under a lock: threads of a worker take turns cheaply
        # here, and processes take turns on SQLite's own file lock.
        self._lock = threading.Lock()
        self._wait = timeout / 2
        self._conn = sqlite3.connect(path, timeout=self._wait, isolation_level=None,
                                     check_same_thread=False)
        with self._turn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(SCHEMA)
            # Windows restart in place, so only counters of keys no longer used pile up.
            conn.execute("DELETE FROM counter WHERE expires_at <= ?", (time.time(),))

    @contextmanager
    def _turn(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone; raises sqlite3.OperationalError (which limits
        wraps in StorageError) when the other threads hold it too long."""
        if not self._lock.acquire(timeout=self._wait):
            raise sqlite3.OperationalError("the rate-limit counters are busy in this process")
        try:
            yield self._conn
        finally:
            self._lock.release()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._turn() as conn:
            row = conn.execute(INCREMENT, {"key": key, "amount": amount, "now": now,
                                           "expires_at": now + expiry}).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        with self._turn() as conn:
            row = conn.execute("SELECT value FROM counter WHERE key = ? AND expires_at > ?",
                               (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self._turn() as conn:
            row = conn.execute("SELECT expires_at FROM counter WHERE key = ?", (key,)).fetchone()
        return max(float(row[0]), now) if row else now

    def check(self) -> bool:
        try:
            with self._turn() as conn:
                conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        with self._turn() as conn:
            return conn.execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        with self._turn() as conn:
            conn.execute("DELETE FROM counter WHERE key = ?", (key,))

    def close(self) -> None:
        with self._lock:  # every holder lets go within its bounded wait
            self._conn.close()
