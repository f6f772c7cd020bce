"""`govern serve` survives what a supervisor would: one worker slot killed twice quickly (granian
alone exits the whole server on that, "Worker crash loop detected") leaves it serving, with
every answer it gave on record; a SIGKILLed main process takes its workers with it, so a new
server can listen on the same port; and the shipped systemd unit restarts `govern serve` and ends
every process it left."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import requests

# granian's supervision and the workers' parent-death signal do not depend on the database
# (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0
RECOVERY_BOUND = 60.0  # granian's exit, the pause before it starts again, two workers booting
EXIT_BOUND = 30.0  # an orphaned worker stopping gracefully, on a busy machine
CHAT = {"model": "chat-standard", "capability": "generate"}
UNIT = Path(__file__).parents[2] / "deploy" / "govern.service"


def check(url: str, key: str, session: requests.Session) -> requests.Response | None:
    try:
        return session.post(f"{url}/v1/check", json=CHAT, headers={"Authorization": f"Bearer {key}"},
                            timeout=HTTP_TIMEOUT)
    except requests.ConnectionError:
        return None  # its worker was killed, or no worker is listening: no answer, nothing promised


def load(url: str, key: str, stop: threading.Event, answers: list[requests.Response | None]) -> None:
    with requests.Session() as session:
        for _ in range(3000):  # bounded even if `stop` never comes
            if stop.is_set():
                return
            answer = check(url, key, session)
            answers.append(answer)
            if answer is None:
                time.sleep(0.02)  # refused at once while nothing listens: do not spin


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's new parent may be slow to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def replacement(server: Server, known: set[int]) -> int:
    """The worker the server started in place of a killed one (bounded wait)."""
    deadline = time.monotonic() + RECOVERY_BOUND
    while time.monotonic() < deadline:
        fresh = {pid for pid in server.worker_pids() - known if running(pid)}
        if fresh:
            return fresh.pop()
        time.sleep(0.01)
    raise AssertionError(f"no worker replaced the killed one\n{server.log()}")


def logged(server: Server, text: str) -> bool:
    """Wait (bounded) until the server's output holds `text`."""
    deadline = time.monotonic() + RECOVERY_BOUND
    while text not in server.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    return text in server.log()


def answered_when_asked(server: Server, key: str) -> requests.Response | None:
    """Ask until a /v1/check is answered 200 (bounded): the first such answer, else the last."""
    deadline = time.monotonic() + RECOVERY_BOUND
    with requests.Session() as session:
        answer = check(server.url, key, session)
        while (answer is None or answer.status_code != 200) and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = check(server.url, key, session)
    return answer


def test_a_worker_slot_killed_twice_quickly_leaves_the_server_serving(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    key = demo_instance.keys["verified"]
    first = server.worker_pids()
    stop, answers = threading.Event(), []
    threads = [threading.Thread(target=load, args=(server.url, key, stop, answers)) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)

    victim = min(first)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    second_victim = replacement(server, first)
    os.kill(second_victim, signal.SIGKILL)
    assert time.monotonic() - killed_at < 5.5  # granian's window (from the respawn, in fact)
    # granian gives up on the slot and stops the other worker too; govern starts it again.
    assert logged(server, "Worker crash loop detected")
    assert logged(server, "starting it again")

    after = answered_when_asked(server, key)
    time.sleep(0.5)  # the load reaches the new workers too
    stop.set()
    for thread in threads:
        thread.join(HTTP_TIMEOUT * 2)

    assert server.process.poll() is None
    assert after is not None and after.status_code == 200, server.log()
    assert after.json()["allow"] is True
    assert after.json()["reason"] == "granted_by_tier"
    answered = [r.json()["decision_id"] for r in answers if r is not None and r.status_code == 200]
    answered.append(after.json()["decision_id"])
    assert len(answered) > 5
    assert demo_instance.decision_ids(answered) == set(answered)
    workers = server.worker_pids()
    assert not workers & {victim, second_victim}
    for pid in workers:  # both slots serve again
        assert server.on_worker(pid, lambda session: check(server.url, key, session)).status_code == 200


def test_sigterm_while_the_server_waits_to_start_granian_again_stops_it(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    first = server.worker_pids()
    os.kill(min(first), signal.SIGKILL)
    os.kill(replacement(server, first), signal.SIGKILL)
    assert logged(server, "starting it again")

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(EXIT_BOUND) == 0
    assert server.log().count("Starting granian") == 1  # it did not start again


@pytest.mark.parametrize("moment", ["serving", "while_a_worker_starts"])
def test_workers_end_with_their_sigkilled_main_process_and_free_the_port(
        moment, live_server, serve_process, demo_instance: DemoInstance):
    server: Server = live_server()
    workers = server.worker_pids()
    key = demo_instance.keys["verified"]
    with requests.Session() as session:
        assert check(server.url, key, session).status_code == 200  # type: ignore[union-attr]
    if moment == "while_a_worker_starts":  # one that may not have asked to end with it yet
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        workers = workers - {victim} | {replacement(server, workers)}

    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(EXIT_BOUND)
    deadline = time.monotonic() + EXIT_BOUND
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not any(map(running, workers))
    again: Server = serve_process(demo_instance.env(), port=urlsplit(server.url).port)
    with requests.Session() as session:
        answer = check(again.url, key, session)
    assert answer is not None and answer.status_code == 200
    assert answer.json()["allow"] is True
    assert demo_instance.decision_ids({answer.json()["decision_id"]}) == {answer.json()["decision_id"]}


def test_the_shipped_systemd_unit_restarts_govern_and_ends_every_process_it_left(
        tmp_path: Path, govern_command):  # type: ignore[no-untyped-def]
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string(UNIT.read_text())
    service = unit["Service"]

    assert service["Restart"] == "always"
    assert service["KillMode"] == "control-group"
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["ExecStart"].split()[:2] == ["/opt/govern/venv/bin/govern", "serve"]
    # More than the 20 s a worker may take to finish its requests, so a stop is graceful.
    assert int(service["TimeoutStopSec"]) > 20
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # As installed: the command where this test runs it from.
    installed = tmp_path / "govern.service"
    installed.write_text(UNIT.read_text().replace("/opt/govern/venv/bin/govern",
                                                  str(govern_command.executable)))
    result = subprocess.run([analyze, "verify", str(installed)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
