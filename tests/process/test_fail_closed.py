"""Fail closed: when the decision log cannot commit, a check is answered 503
decision_log_unavailable, never allowed; once the database takes writes again, checks succeed
without a restart.

The fault is real: the test holds SQLite's write lock from its own connection (BEGIN EXCLUSIVE),
so the server's decision log writer cannot commit within GOVERN_DECISION_LOG_TIMEOUT.

A read-only database file is not tested: these tests run as root, which ignores file permissions,
and a running server keeps the file open for writing anyway, so changing its mode afterwards would
not stop its commits. The held lock is the same failure as seen from the writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from databases import query
from factories import demo_keys
from flask import Flask

from govern import create_app
from govern.extensions import db

pytestmark = pytest.mark.sqlite_only  # SQLite itself: its write lock

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0
LOG_TIMEOUT = "0.5"
RECOVERY_BOUND = 15.0  # the writer may sit out SQLite's 5 s busy timeout on its last batch
UNKNOWN_KEY = "gvk_0123456789ab_" + "n" * 43


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Hold the database's write lock until the block ends."""
    conn = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        for _attempt in range(100):  # a writer of the server may hold it for a moment
            try:
                conn.execute("BEGIN EXCLUSIVE")
                break
            except sqlite3.OperationalError:
                time.sleep(0.05)
        else:
            pytest.fail("could not take the database's write lock")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_live_server_answers_503_while_the_decision_log_cannot_commit(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server(GOVERN_DECISION_LOG_TIMEOUT=LOG_TIMEOUT)
    verified = demo_instance.keys["verified"]
    answered: set[str] = set()  # decision ids answered 200

    def ask(key: str, session: requests.Session | None = None) -> requests.Response:
        response = (session or requests).post(
            f"{server.url}/v1/check", json={"model": "chat-standard", "capability": "generate"},
            headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)
        if response.status_code == 200:
            answered.add(response.json()["decision_id"])
        return response

    assert ask(verified).json()["allow"] is True

    # Fresh connections, several at once, so both workers take some.
    with write_lock_held(demo_instance.database), ThreadPoolExecutor(8) as pool:
        locked = list(pool.map(ask, [verified] * 12 + [UNKNOWN_KEY] * 4))

    assert [(r.status_code, r.json()["code"]) for r in locked] == \
        [(503, "decision_log_unavailable")] * 16
    assert not any(r.json().get("allow") for r in locked)

    answers = server.until_every_worker(lambda session: ask(verified, session),
                                        lambda r: r.status_code == 200, within=RECOVERY_BOUND)
    assert {pid: (r.status_code, r.json().get("allow")) for pid, r in answers.items()} == \
        dict.fromkeys(server.worker_pids(), (200, True))
    recovered_ids = {r.json()["decision_id"] for r in answers.values()}
    assert demo_instance.decision_ids(recovered_ids) == recovered_ids

    # No row counts as delivered without its 200: a 503 whose row landed anyway is marked.
    def delivered() -> set[str]:
        return {str(row[0]) for row in query(demo_instance.database_url,
                                             "SELECT decision_id FROM decision WHERE delivered")}

    deadline = time.monotonic() + RECOVERY_BOUND
    while not delivered() <= answered and time.monotonic() < deadline:
        time.sleep(0.1)
    assert delivered() == answered


@pytest.fixture
def impatient_app(env: dict[str, str]) -> Iterator[Flask]:
    """The app in this process, with a short decision log timeout and a queue of one."""
    app = create_app({**env, "GOVERN_DECISION_LOG_TIMEOUT": LOG_TIMEOUT,
                      "GOVERN_DECISION_LOG_QUEUE": "1"})
    with app.app_context():
        yield app
        app.extensions["govern.runtime"].stop()
        db.session.remove()
        db.engine.dispose()


def test_in_process_check_answers_503_while_the_decision_log_cannot_commit(
        impatient_app: Flask, instance: Path):
    key = demo_keys(db.session)["verified"]
    db.session.remove()
    client = impatient_app.test_client()

    def ask() -> tuple[int, dict[str, object]]:
        response = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                               headers={"Authorization": f"Bearer {key}"})
        return response.status_code, response.json  # type: ignore[return-value]

    assert ask()[1]["allow"] is True

    with write_lock_held(instance / "govern.db"):
        # The writer takes the first record and waits on the lock; the second waits in the
        # queue (size 1); the third finds the queue full. Each is refused.
        stuck, queued, full = ask(), ask(), ask()

    assert [(status, body["code"]) for status, body in (stuck, queued, full)] == \
        [(503, "decision_log_unavailable")] * 3
    assert "full" in str(full[1]["message"])
    assert not any(body.get("allow") for _status, body in (stuck, queued, full))

    deadline = time.monotonic() + RECOVERY_BOUND
    status, body = ask()
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = ask()
    assert (status, body.get("allow"), body.get("reason")) == (200, True, "granted_by_tier")
