"""/metrics adds up every worker's samples; each request leaves one JSON access-log line."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import requests

# the access log and /metrics do not depend on the database
# (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only

if TYPE_CHECKING:
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0


def sample(text: str, name: str, **labels: str) -> float:
    """The value of metric `name` with exactly these labels (label order as Prometheus prints it)."""
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
            found.pop("pid", None)
            if found == labels:
                return float(match.group(4))
    return 0.0


def test_metrics_count_decisions_of_every_worker(live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    verified = demo_instance.keys["verified"]

    def ask(model: str) -> requests.Response:
        return requests.post(f"{server.url}/v1/check", json={"model": model, "capability": "generate"},
                             headers={"Authorization": f"Bearer {verified}"}, timeout=HTTP_TIMEOUT)

    # Fresh connections from several threads, so both workers answer some.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, ["chat-standard"] * 30 + ["frontier-1"] * 20))
    assert [r.status_code for r in answers] == [200] * 50
    for pid in server.worker_pids():  # each worker has answered at least one
        server.on_worker(pid, lambda s: s.post(
            f"{server.url}/v1/check", json={"model": "chat-standard", "capability": "generate"},
            headers={"Authorization": f"Bearer {verified}"}, timeout=HTTP_TIMEOUT))

    text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    allowed = sample(text, "govern_decisions_total", result="allow", tier="verified",
                     reason="granted_by_tier")
    denied = sample(text, "govern_decisions_total", result="deny", tier="verified",
                    reason="tier_too_low")
    assert (allowed, denied) == (30 + len(server.worker_pids()), 20)
    assert sample(text, "govern_decision_latency_seconds_count") == 50 + len(server.worker_pids())
    assert sample(text, "govern_decision_log_commit_seconds_count") >= 1
    versions = dict(re.findall(r'^govern_policy_version\{pid="(\d+)"\} (\S+)$', text, re.MULTILINE))
    # One sample per worker, none for the server process or the decision-log writers; the demo's
    # policy is version 3 (the seed, its models, then a rate limit on every tier).
    assert {int(pid): float(version) for pid, version in versions.items()} == \
        dict.fromkeys(server.worker_pids(), 3.0)


def test_each_request_is_logged_as_a_json_line_with_its_request_id(live_server, demo_instance):
    server: Server = live_server()
    response = requests.post(
        f"{server.url}/v1/check", json={"model": "open-7b", "capability": "generate"},
        headers={"Authorization": f"Bearer {demo_instance.keys['free']}", "X-Request-ID": "trace-42"},
        timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    server.stop()

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line["request_id"] == "trace-42"]
    assert len(logged) == 1
    assert (logged[0]["method"], logged[0]["path"], logged[0]["status"]) == ("POST", "/v1/check", 200)
