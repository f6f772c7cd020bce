"""A real `govern serve` (granian; two worker processes where the test is about them) answers over
HTTP as the policy says, follows policy and key changes made elsewhere on every worker without a
restart, and logs every answer it gave even when stopped with SIGTERM mid-traffic."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import requests
from databases import query

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server, SharedServer

HTTP_TIMEOUT = 10.0

# Design: a change takes effect on every worker within one second. The bound leaves room for a
# busy 2-core machine; the polling stops as soon as every worker has it.
PROPAGATION_BOUND = 2.0


def key_prefix(key: str) -> str:
    """The visible prefix of a key (`gvk_` and 12 hex digits), as `govern keys` names it."""
    return "_".join(key.split("_", 2)[:2])


def check(url: str, key: str, model: str, capability: str,
          session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(
        f"{url}/v1/check", json={"model": model, "capability": capability},
        headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)


def stored_decision(database_url: str, decision_id: str) -> tuple[object, ...] | None:
    rows = query(database_url, "SELECT allow, reason, tier, model, capability, key_prefix FROM decision "
                 f"WHERE decision_id = '{decision_id}'")
    return (bool(rows[0][0]), *rows[0][1:]) if rows else None


def test_demo_keys_are_answered_as_the_policy_says(shared_server: SharedServer):
    server, demo_instance = shared_server.server, shared_server.demo
    verified, free = demo_instance.keys["verified"], demo_instance.keys["free"]

    allowed = check(server.url, verified, "chat-standard", "generate")
    denied = check(server.url, free, "frontier-1", "generate")

    assert allowed.status_code == 200
    assert allowed.json()["allow"] is True
    assert allowed.json()["reason"] == "granted_by_tier"
    assert allowed.json()["tier"] == "verified"
    assert denied.status_code == 200
    assert denied.json()["allow"] is False
    assert denied.json()["reason"] == "tier_too_low"
    assert denied.json()["tier"] == "free"
    # The record is committed before the answer leaves: it is there the moment we look.
    assert stored_decision(demo_instance.database_url, allowed.json()["decision_id"]) == (
        1, "granted_by_tier", "verified", "chat-standard", "generate", key_prefix(verified))
    assert stored_decision(demo_instance.database_url, denied.json()["decision_id"]) == (
        0, "tier_too_low", "free", "frontier-1", "generate", key_prefix(free))


def test_policy_imported_with_the_cli_reaches_every_worker_without_restart(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    workers = server.worker_pids()
    free = demo_instance.keys["free"]

    def ask(session: requests.Session) -> requests.Response:
        # open-7b is signed off for free (govern demo), so the policy alone decides the answer.
        return check(server.url, free, "open-7b", "tools", session)

    for pid in workers:
        before = server.on_worker(pid, ask).json()
        assert (before["allow"], before["reason"]) == (False, "tier_too_low")
    old_version = before["policy_version"]

    imported = demo_instance.edit_policy(lambda document: document["grants"].append(
        {"tier": "free", "target": "open", "capability": "tools"}))
    assert imported.stdout.strip() == f"policy version {old_version + 1} is live"

    answers = server.until_every_worker(
        ask, lambda r: r.json()["policy_version"] == old_version + 1, within=PROPAGATION_BOUND)

    assert {pid: r.json()["policy_version"] for pid, r in answers.items()} == dict.fromkeys(
        workers, old_version + 1)
    assert {pid: (r.json()["allow"], r.json()["reason"]) for pid, r in answers.items()} == \
        dict.fromkeys(workers, (True, "granted_by_tier"))
    assert server.process.poll() is None
    assert server.worker_pids() == workers  # the same processes: nothing was restarted


def test_policy_changed_through_the_admin_api_reaches_every_worker(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    workers = server.worker_pids()
    verified = demo_instance.keys["verified"]

    def ask(session: requests.Session) -> requests.Response:
        return check(server.url, verified, "chat-standard", "generate", session)

    blocked = requests.put(f"{server.url}/v1/admin/blocked-models/chat-standard",
                           headers={"Authorization": f"Bearer {demo_instance.admin_key}"},
                           timeout=HTTP_TIMEOUT)
    assert blocked.status_code == 200, blocked.text
    version = blocked.json()["policy_version"]

    answers = server.until_every_worker(
        ask, lambda r: r.json()["policy_version"] == version, within=PROPAGATION_BOUND)

    assert {pid: (r.json()["allow"], r.json()["reason"], r.json()["policy_version"])
            for pid, r in answers.items()} == dict.fromkeys(workers, (False, "model_blocked", version))
    assert server.worker_pids() == workers


def test_key_revoked_with_the_cli_is_refused_by_every_worker(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    workers = server.worker_pids()
    verified = demo_instance.keys["verified"]

    def ask(session: requests.Session) -> requests.Response:
        return check(server.url, verified, "chat-standard", "generate", session)

    # Every worker has the key cached as valid before it is revoked.
    for pid in workers:
        assert server.on_worker(pid, ask).json()["allow"] is True

    revoked = demo_instance.govern("keys", "revoke", key_prefix(verified))
    assert revoked.stdout.strip() == f"key {key_prefix(verified)} revoked"

    answers = server.until_every_worker(ask, lambda r: r.status_code == 401,
                                        within=PROPAGATION_BOUND)
    assert {pid: (r.status_code, r.json().get("code")) for pid, r in answers.items()} == \
        dict.fromkeys(workers, (401, "key_revoked"))

    # And from then on, on fresh connections to whichever worker takes them.
    with ThreadPoolExecutor(8) as pool:
        later = list(pool.map(lambda _: check(server.url, verified, "chat-standard", "generate"),
                              range(24)))
    assert {(r.status_code, r.json().get("code")) for r in later} == {(401, "key_revoked")}


def test_sigterm_mid_traffic_leaves_a_record_for_every_answer(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    keys = demo_instance.keys
    questions = [(keys["verified"], "chat-standard", "generate"),
                 (keys["free"], "frontier-1", "generate"),
                 (keys["internal"], "research-preview", "tools"),
                 (keys["trusted"], "open-7b", "fine_tune")]
    answered: list[requests.Response] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        with requests.Session() as session:
            for index in range(400):  # bounded; the server going away ends it sooner
                if stop.is_set():
                    return
                key, model, capability = questions[(number + index) % len(questions)]
                try:
                    response = check(server.url, key, model, capability, session)
                except requests.RequestException:
                    return  # the server has closed its sockets
                with lock:
                    answered.append(response)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(answered) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(answered) >= 60, f"traffic did not start\n{server.log()}"
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    assert exit_code == 0, server.log()
    assert answered
    assert {r.status_code for r in answered} == {200}, server.log()
    ids = [r.json()["decision_id"] for r in answered]
    assert len(set(ids)) == len(ids)
    assert demo_instance.decision_ids(ids) == set(ids)


def test_one_writer_process_commits_for_every_worker_of_the_machine(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()  # ready: one of the two workers has answered GET /readyz
    # Started by the server process before its workers, so it is there for their first request.
    writers = server.log_writers()
    assert list(writers) == [server.process.pid] and len(writers[server.process.pid]) == 1
    key = demo_instance.keys["verified"]
    with requests.Session() as session:
        answers = [session.post(f"{server.url}/v1/check", headers={"Authorization": f"Bearer {key}"},
                                json={"model": "open-7b", "capability": "generate"}, timeout=HTTP_TIMEOUT)
                   for _ in range(20)]
    assert [answer.status_code for answer in answers] == [200] * 20
    ids = {answer.json()["decision_id"] for answer in answers}
    assert demo_instance.decision_ids(list(ids)) == ids


def test_a_second_server_on_a_taken_port_is_refused(shared_server: SharedServer):
    server, demo_instance = shared_server.server, shared_server.demo
    port = server.url.rsplit(":", 1)[1]
    second = demo_instance.govern("serve", "--port", port, check=False)
    assert (second.returncode, second.stderr.strip().splitlines()) == \
        (1, [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"])
    assert requests.get(f"{server.url}/readyz", timeout=HTTP_TIMEOUT).status_code == 200


def test_serve_with_its_defaults_starts_without_a_warning(shared_server: SharedServer):
    log = shared_server.server.log()

    assert "Listening at" in log
    assert [line for line in log.splitlines() if "warn" in line.lower()] == []
