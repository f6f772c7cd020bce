"""`govern serve --decisions-only`: a node that answers access decisions (each one in the decision
log before its answer) and its operations endpoints, and nothing of the admin UI or admin API.
Beside it, a full `govern serve` answers both planes on one port."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0
PROBLEM = "application/problem+json"
ADMIN_PATHS = [("GET", "/login"), ("POST", "/login"), ("GET", "/"), ("GET", "/dashboard"),
               ("GET", "/v1/admin/policy"), ("POST", "/v1/admin/keys"), ("GET", "/v1/admin/users"),
               ("GET", "/v1/decisions"), ("GET", "/openapi.json")]


def check(server: Server, key: str) -> requests.Response:
    return requests.post(f"{server.url}/v1/check", json={"model": "open-7b", "capability": "generate"},
                         headers={"Authorization": f"Bearer {key}", "X-Request-ID": "edge-7"},
                         timeout=HTTP_TIMEOUT)


def test_a_decision_only_node_answers_decisions_and_nothing_of_the_admin_side(
        serve_process, demo_instance: DemoInstance):
    server: Server = serve_process(demo_instance.env(), extra_args=("--decisions-only",))
    admin = {"Authorization": f"Bearer {demo_instance.admin_key}"}

    answer = check(server, demo_instance.keys["free"])
    assert (answer.status_code, answer.json()["allow"]) == (200, True)
    assert answer.headers["X-Request-ID"] == "edge-7"
    assert demo_instance.decision_ids({answer.json()["decision_id"]}) == {answer.json()["decision_id"]}
    for path in ("/healthz", "/readyz", "/metrics", "/v1/status"):
        assert requests.get(f"{server.url}{path}", timeout=HTTP_TIMEOUT).status_code == 200, path
    for method, path in ADMIN_PATHS:
        response = requests.request(method, f"{server.url}{path}", headers=admin, json={},
                                    timeout=HTTP_TIMEOUT, allow_redirects=False)
        assert (response.status_code, response.headers["Content-Type"]) == (404, PROBLEM), (method, path)
        assert response.json()["code"] == "not_found"
        assert "Set-Cookie" not in response.headers


def test_a_full_node_serves_both_planes_on_one_port(live_server, demo_instance: DemoInstance):
    server: Server = live_server()
    admin = {"Authorization": f"Bearer {demo_instance.admin_key}"}

    answer = check(server, demo_instance.keys["free"])
    tiers = requests.get(f"{server.url}/v1/admin/tiers", headers=admin, timeout=HTTP_TIMEOUT)
    login = requests.get(f"{server.url}/login", timeout=HTTP_TIMEOUT)

    assert (answer.status_code, answer.json()["allow"]) == (200, True)
    assert "Set-Cookie" not in answer.headers
    assert demo_instance.decision_ids({answer.json()["decision_id"]}) == {answer.json()["decision_id"]}
    assert tiers.status_code == 200
    assert [tier["name"] for tier in tiers.json()["tiers"]][:1] == ["free"]
    assert (login.status_code, login.headers["Content-Type"].split(";")[0]) == (200, "text/html")
