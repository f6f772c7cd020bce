"""Operations endpoints: liveness, readiness and process status."""

from __future__ import annotations

from factories import add_models

SEEDED_POLICY_VERSION = 1  # the default policy stored by the first migration run


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_ready_with_the_seeded_policy_version(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "policy_version": SEEDED_POLICY_VERSION}


def test_readyz_reports_the_policy_version_in_force_after_a_change(client, session):
    add_models(session)  # stored as version 2 before the runtime starts

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json["policy_version"] == 2


def test_status_reports_version_policy_version_and_log_queue_depth(client):
    response = client.get("/v1/status")

    assert response.status_code == 200
    assert response.json["version"] == "0.1.0"
    assert response.json["policy_version"] == SEEDED_POLICY_VERSION
    assert response.json["decision_log_queue_depth"] == 0


def test_ops_endpoints_need_no_key(client):
    for path in ("/healthz", "/readyz", "/v1/status"):
        assert client.get(path).status_code == 200, path
