"""What govern tells anyone who asks: the AuthZEN metadata names URLs from GOVERN_PUBLIC_URL, never
from the request's Host header, and with GOVERN_OPS_REQUIRE_KEY on, /metrics and /v1/status answer
only an admin or auditor (liveness and readiness stay open to load balancers)."""

from __future__ import annotations

import pytest
from factories import make_key, make_pep_key
from flask import Flask

from govern import create_app
from govern.errors import ConfigError

ENDPOINTS = ("access_evaluation_endpoint", "access_evaluations_endpoint", "search_subject_endpoint",
             "search_resource_endpoint", "search_action_endpoint")


def metadata(app: Flask, host: str) -> dict[str, str]:
    response = app.test_client().get("/.well-known/authzen-configuration", headers={"Host": host})
    assert response.status_code == 200
    document: dict[str, str] = response.json
    return document


def test_the_metadata_never_reflects_the_host_header(app_with):
    document = metadata(app_with(GOVERN_HOST="10.0.0.7", GOVERN_PORT="8443"), "evil.example")

    assert document["policy_decision_point"] == "http://10.0.0.7:8443"
    assert all("evil.example" not in url for url in document.values())


def test_the_metadata_is_built_from_the_public_url(app_with):
    document = metadata(app_with(GOVERN_PUBLIC_URL="https://govern.example.org/pdp/"), "evil.example")

    assert document["policy_decision_point"] == "https://govern.example.org/pdp"
    assert [document[name] for name in ENDPOINTS] == [
        "https://govern.example.org/pdp/access/v1/evaluation",
        "https://govern.example.org/pdp/access/v1/evaluations",
        "https://govern.example.org/pdp/access/v1/search/subject",
        "https://govern.example.org/pdp/access/v1/search/resource",
        "https://govern.example.org/pdp/access/v1/search/action",
    ]


@pytest.mark.parametrize("url", ["govern.example.org", "ftp://govern.example.org", "https://",
                                 "https://govern.example.org/?x=1"])
def test_a_public_url_that_is_no_http_url_stops_the_start(env, url):
    with pytest.raises(ConfigError, match="GOVERN_PUBLIC_URL"):
        create_app({**env, "GOVERN_PUBLIC_URL": url})


@pytest.mark.parametrize("path", ["/metrics", "/v1/status"])
def test_ops_endpoints_can_require_an_admin_or_auditor_key(app_with, session, admin, auditor, path):
    guarded = app_with(GOVERN_OPS_REQUIRE_KEY="on").test_client()
    open_by_default = app_with().test_client()
    client_key = make_key(session, "acme", tier="free")
    pep_key = make_pep_key(session, "edge")

    anonymous = guarded.get(path)
    as_client = guarded.get(path, headers={"Authorization": f"Bearer {client_key}"})
    as_pep = guarded.get(path, headers={"Authorization": f"Bearer {pep_key}"})

    assert (anonymous.status_code, anonymous.json["code"]) == (401, "key_missing")
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="govern"'
    assert (as_client.status_code, as_client.json["code"]) == (401, "key_wrong_kind")
    assert (as_pep.status_code, as_pep.json["code"]) == (401, "key_wrong_kind")
    assert guarded.get(path, headers=admin).status_code == 200
    assert guarded.get(path, headers=auditor).status_code == 200
    assert open_by_default.get(path).status_code == 200


def test_liveness_and_readiness_stay_open_when_ops_need_a_key(app_with):
    guarded = app_with(GOVERN_OPS_REQUIRE_KEY="on").test_client()

    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 200
    assert guarded.get("/metrics").status_code == 401
