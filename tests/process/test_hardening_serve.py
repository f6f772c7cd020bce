"""A real `govern serve` (granian): a suspended admin or enforcement-point key is refused on every
one of two workers, and a body sent chunked meets the same limits as one with a length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server, SharedServer

HTTP_TIMEOUT = 10.0
# Bounds the wait for every worker to answer the new key at all (workers may still be booting).
PROPAGATION_BOUND = 2.0
CHECK_LIMIT = 64 * 1024
APP_LIMIT = 1024 * 1024
QUESTION = {"model": "chat-standard", "capability": "generate"}
PEP_QUESTION = {"subject": {"type": "organisation", "id": "demo-verified"},
                "resource": {"type": "model", "id": "chat-standard"}, "action": {"name": "generate"}}
SEARCH = {"subject": {"type": "api_key"}, "resource": {"type": "model", "id": "chat-standard"},
          "action": {"name": "generate"}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def prefix(key: str) -> str:
    return "_".join(key.split("_", 2)[:2])


def chunked(data: bytes, size: int = 8192) -> Iterator[bytes]:
    """The body as a generator: requests then sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def padded(document: bytes, total: int) -> bytes:
    """A JSON document followed by whitespace up to `total` bytes: valid JSON whole, and any prefix
    of it that holds the document is valid JSON too."""
    return document + b" " * (total - len(document))


# -- keys ------------------------------------------------------------------------------------------
def test_a_suspended_admin_key_changes_nothing_on_any_worker(live_server, demo_instance: DemoInstance):
    server: Server = live_server(workers=2)
    admin = bearer(demo_instance.admin_key)
    for pid in server.worker_pids():
        listed = server.on_worker(pid, lambda s: s.get(f"{server.url}/v1/admin/organisations",
                                                       headers=admin, timeout=HTTP_TIMEOUT))
        assert listed.status_code == 200

    suspended = requests.patch(f"{server.url}/v1/admin/keys/{prefix(demo_instance.admin_key)}",
                               json={"suspended": True}, headers=admin, timeout=HTTP_TIMEOUT)
    assert suspended.status_code == 200

    for number, pid in enumerate(sorted(server.worker_pids())):
        created = server.on_worker(pid, lambda s, n=number: s.post(  # type: ignore[misc]
            f"{server.url}/v1/admin/organisations", json={"name": f"evil-{n}", "tier": "internal"},
            headers=admin, timeout=HTTP_TIMEOUT))
        assert (created.status_code, created.json()["code"]) == (401, "key_suspended"), pid
        assert created.headers["Content-Type"] == "application/problem+json"
    names = demo_instance.govern("orgs", "list").stdout
    assert "evil" not in names


def test_a_suspended_enforcement_point_key_gets_nothing_on_any_worker(live_server,
                                                                      demo_instance: DemoInstance):
    server: Server = live_server(workers=2)
    admin = bearer(demo_instance.admin_key)
    issued = requests.post(f"{server.url}/v1/admin/keys", json={"kind": "pep", "name": "edge"},
                           headers=admin, timeout=HTTP_TIMEOUT)
    assert issued.status_code == 201
    pep = bearer(issued.json()["key"])

    def evaluate(session: requests.Session) -> requests.Response:
        return session.post(f"{server.url}/access/v1/evaluation", json=PEP_QUESTION, headers=pep,
                            timeout=HTTP_TIMEOUT)

    def search(session: requests.Session) -> requests.Response:
        return session.post(f"{server.url}/access/v1/search/subject", json=SEARCH, headers=pep,
                            timeout=HTTP_TIMEOUT)

    working = server.until_every_worker(evaluate, lambda r: r.status_code == 200, PROPAGATION_BOUND)
    assert {pid: r.status_code for pid, r in working.items()} == dict.fromkeys(working, 200)

    suspended = requests.patch(f"{server.url}/v1/admin/keys/{issued.json()['prefix']}",
                               json={"suspended": True}, headers=admin, timeout=HTTP_TIMEOUT)
    assert suspended.status_code == 200

    for pid in server.worker_pids():  # refused at once, no waiting for a refresh
        listed = server.on_worker(pid, search)
        assert (listed.status_code, listed.json()["code"]) == (401, "key_suspended"), pid
        evaluated = server.on_worker(pid, evaluate)
        assert (evaluated.status_code, evaluated.json()["code"]) == (401, "key_suspended"), pid


# -- bodies ----------------------------------------------------------------------------------------
# The body checks refuse or answer without changing anything: they share one server.
def test_a_chunked_check_over_64_kib_is_refused_not_cut(shared_server: SharedServer):
    server, demo_instance = shared_server.server, shared_server.demo
    body = padded(b'{"model": "chat-standard", "capability": "generate"}', CHECK_LIMIT + 4096)

    response = requests.post(f"{server.url}/v1/check", data=chunked(body), timeout=HTTP_TIMEOUT,
                             headers={**bearer(demo_instance.keys["verified"]),
                                      "Content-Type": "application/json"})

    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "decision_id" not in response.json()
    # Just under the limit, the same chunked framing is read whole and answered.
    within = requests.post(f"{server.url}/v1/check", data=chunked(body[:CHECK_LIMIT - 1024]),
                           timeout=HTTP_TIMEOUT, headers={**bearer(demo_instance.keys["verified"]),
                                                          "Content-Type": "application/json"})
    assert within.status_code == 200
    assert (within.json()["allow"], within.json()["reason"]) == (True, "granted_by_tier")


def test_a_check_over_64_kib_with_a_length_is_refused_the_same_way(shared_server: SharedServer):
    server, demo_instance = shared_server.server, shared_server.demo
    body = padded(b'{"model": "chat-standard", "capability": "generate"}', CHECK_LIMIT + 4096)

    response = requests.post(f"{server.url}/v1/check", data=body, timeout=HTTP_TIMEOUT,
                             headers={**bearer(demo_instance.keys["verified"]),
                                      "Content-Type": "application/json"})

    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


def test_every_limit_holds_for_chunked_bodies(shared_server: SharedServer):
    server, demo_instance = shared_server.server, shared_server.demo
    json_headers = {"Content-Type": "application/json"}
    evaluation = padded(b'{"subject": {"type": "organisation", "id": "demo-verified"}, "resource": '
                        b'{"type": "model", "id": "chat-standard"}, "action": {"name": "generate"}}',
                        CHECK_LIMIT + 4096)
    organisation = padded(b'{"name": "big", "tier": "free"}', APP_LIMIT + 4096)

    answers = [
        requests.post(f"{server.url}/access/v1/evaluation", data=chunked(evaluation), timeout=HTTP_TIMEOUT,
                      headers={**json_headers, **bearer(demo_instance.admin_key)}),
        requests.post(f"{server.url}/v1/admin/organisations", data=chunked(organisation),
                      timeout=HTTP_TIMEOUT, headers={**json_headers, **bearer(demo_instance.admin_key)}),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(413, "body_too_large")] * 2
    assert "big" not in demo_instance.govern("orgs", "list").stdout
