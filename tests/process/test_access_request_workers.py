"""A real `govern serve` with two workers: a grant made on the server's command line reaches every
worker within the propagation bound, and ends on every worker at its expiry, with no restart and
nothing run at the expiry."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0
PROPAGATION_BOUND = 2.0  # design: one second; room for a busy 2-core machine
GRANT_SECONDS = 4
FRONTIER = {"model": "frontier-1", "capability": "generate"}  # trusted and above


def test_a_grant_reaches_every_worker_and_ends_on_every_worker_at_its_expiry(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    workers = server.worker_pids()
    verified = {"Authorization": f"Bearer {demo_instance.keys['verified']}"}

    def ask(session: requests.Session) -> requests.Response:
        return session.post(f"{server.url}/v1/check", json=FRONTIER, headers=verified, timeout=HTTP_TIMEOUT)

    denied = ask(requests.Session()).json()
    assert denied["access_request"]["would_allow"] == {"tier": "trusted"}
    made = requests.post(f"{server.url}/v1/access-requests", headers=verified, timeout=HTTP_TIMEOUT, json={
        "kind": "capability", "decision_id": denied["decision_id"], "justification": "a pilot",
        "duration_seconds": GRANT_SECONDS})
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]

    approved = demo_instance.govern("requests", "approve", str(request_id))
    expires = datetime.fromisoformat(approved.stdout.strip().rsplit(" ", 1)[1]).timestamp()

    allowed = server.until_every_worker(ask, lambda r: r.json()["allow"], within=PROPAGATION_BOUND)
    assert {pid: (r.json()["allow"], r.json()["tier"]) for pid, r in allowed.items()} == \
        dict.fromkeys(workers, (True, "trusted"))

    ended = server.until_every_worker(ask, lambda r: not r.json()["allow"],
                                      within=expires - time.time() + PROPAGATION_BOUND)
    assert time.time() >= expires
    assert {pid: (r.json()["allow"], r.json()["reason"]) for pid, r in ended.items()} == \
        dict.fromkeys(workers, (False, "tier_too_low"))
    assert server.worker_pids() == workers  # the same processes: nothing was restarted
