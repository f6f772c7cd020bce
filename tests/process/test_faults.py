"""Faults under load: a worker killed with SIGKILL, the database stopped and started again. Every
request answered 200 has its decision row; while the database is away the answer is 503, never an
unrecorded allow, and govern recovers without a restart."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from databases import PostgresCluster, query

if TYPE_CHECKING:
    from conftest import DemoInstance, GovernCommand, Server

HTTP_TIMEOUT = 10.0
RECOVERY_BOUND = 30.0


def check(url: str, key: str, session: requests.Session) -> requests.Response | None:
    try:
        return session.post(f"{url}/v1/check", json={"model": "chat-standard", "capability": "generate"},
                            headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)
    except requests.ConnectionError:
        return None  # the worker holding this connection was killed: no answer, nothing promised


def load(url: str, key: str, stop: threading.Event, answers: list[requests.Response | None]) -> None:
    with requests.Session() as session:
        for _ in range(2000):  # bounded even if `stop` never comes
            if stop.is_set():
                return
            answers.append(check(url, key, session))


def answers_around_a_kill(server: Server, key: str, victim: int) -> list[requests.Response]:
    """The answers to checks from 8 threads for 2.5 s, with `victim` SIGKILLed 1 s in."""
    stop, answers = threading.Event(), []
    threads = [threading.Thread(target=load, args=(server.url, key, stop, answers)) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGKILL)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(HTTP_TIMEOUT * 2)
    return [answer for answer in answers if answer is not None]


def test_every_answer_survives_a_worker_killed_mid_run(live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    victim = min(server.worker_pids())
    answers = answers_around_a_kill(server, demo_instance.keys["verified"], victim)

    answered = [r.json()["decision_id"] for r in answers if r.status_code == 200]
    assert len(answered) > 50
    assert all(r.json()["allow"] for r in answers if r.status_code == 200)
    assert demo_instance.decision_ids(answered) == set(answered)
    workers = server.worker_pids()
    assert victim not in workers  # the server replaced it
    for pid in workers:  # each answers once more, the replacement included
        assert server.on_worker(pid, lambda session: check(server.url, demo_instance.keys["verified"],
                                                           session)).status_code == 200
    metrics = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    reported = {int(pid) for pid in re.findall(r'^govern_policy_version\{pid="(\d+)"\}', metrics, re.M)}
    assert reported == workers  # the killed worker's gauge is gone


def test_every_answer_survives_the_machine_writer_killed_mid_run(live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    (writer,) = server.log_writers()[server.process.pid]
    answers = answers_around_a_kill(server, demo_instance.keys["verified"], writer)

    assert {r.status_code for r in answers} <= {200, 503}
    answered = [r.json()["decision_id"] for r in answers if r.status_code == 200]
    assert len(answered) > 50
    assert demo_instance.decision_ids(answered) == set(answered)  # every 200 has its row
    # The server started another writer, and every worker commits through it.
    deadline = time.monotonic() + RECOVERY_BOUND
    while (server.log_writers().get(server.process.pid, {writer}) == {writer}
           and time.monotonic() < deadline):
        time.sleep(0.1)
    assert writer not in server.log_writers()[server.process.pid]
    for pid in server.worker_pids():  # each answers again once the new writer listens
        while (answer := server.on_worker(pid, lambda session: check(
                server.url, demo_instance.keys["verified"], session))) is None or answer.status_code != 200:
            assert time.monotonic() < deadline, answer
            time.sleep(0.1)


def test_database_stopped_and_started_turns_answers_to_503_then_recovers(
        tmp_path: Path, govern_command: GovernCommand, serve_process: Callable[..., Server]):
    cluster = PostgresCluster()  # its own cluster: the test stops it
    try:
        url = cluster.url(cluster.create())
        env = govern_command.environment(tmp_path / "instance", GOVERN_DATABASE_URL=url,
                                         GOVERN_DECISION_LOG_TIMEOUT="0.5")
        govern_command.run(env, "init", cwd=tmp_path)
        key = govern_command.demo_keys(govern_command.run(env, "demo", cwd=tmp_path).stdout)["verified"]
        server = serve_process(env, workers=2)
        with requests.Session() as session:
            first = check(server.url, key, session)
            assert first is not None and first.json()["allow"] is True

            cluster.halt()
            asked = [check(server.url, key, requests.Session()) for _ in range(6)]
            during = [r for r in asked if r is not None]
            # The log cannot commit, or (a worker yet to cache the key) the key cannot be read.
            assert during
            assert {(r.status_code, r.json()["code"]) for r in during} <= {
                (503, "decision_log_unavailable"), (503, "database_unavailable")}

            cluster.start()
            deadline = time.monotonic() + RECOVERY_BOUND
            recovered = check(server.url, key, session)
            while (recovered is None or recovered.status_code != 200) and time.monotonic() < deadline:
                time.sleep(0.2)
                recovered = check(server.url, key, session)
            assert recovered is not None and recovered.status_code == 200
            assert recovered.json()["allow"] is True
        allowed = {r.json()["decision_id"] for r in (first, recovered) if r is not None}
        stored = {row[0] for row in query(url, "SELECT decision_id FROM decision")}
        assert allowed <= stored
    finally:
        cluster.stop()
