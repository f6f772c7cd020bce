"""The decision plane: the decision endpoints answer without Flask's session, login manager, CSRF
or UI hooks, so a session of a signed-in admin adds nothing to a decision; unknown paths of the
plane and wrong methods are problem answers; a decision-only app serves nothing of the admin side."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key, make_user_key
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern import create_app
from govern.extensions import db
from govern.models import Decision

PROBLEM = "application/problem+json"
FRONTIER = {"model": "frontier-1", "capability": "generate"}
OPEN = {"model": "open-7b", "capability": "generate"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def evaluation(subject_id: str, model: str = "frontier-1") -> dict[str, Any]:
    return {"subject": {"type": "api_key", "id": subject_id}, "resource": {"type": "model", "id": model},
            "action": {"name": "generate"}}


def logged_reason(session: Session, decision_id: str) -> str:
    session.rollback()  # a fresh read: the row was committed by the decision log's writer
    return session.execute(select(Decision.reason).where(Decision.decision_id == decision_id)).scalar_one()


@pytest.fixture
def free_key(session: Session) -> str:
    add_models(session)
    return make_key(session, "lowly", tier="free")


def signed_in_admin(client: FlaskClient, ui_login: Callable[..., str]) -> None:
    ui_login(client, "root", frozenset({"admin"}))
    assert client.get_cookie("session") is not None


def test_a_decision_sets_no_session_cookie_and_needs_no_csrf_token(client, ui_login, free_key):
    signed_in_admin(client, ui_login)
    before = client.get_cookie("session").value

    # A POST with a session cookie and no CSRF token: the admin API would refuse it, a decision not.
    answers = [client.post("/v1/check", json=OPEN, headers=bearer(free_key)),
               client.post("/v1/check/batch", json={"checks": [OPEN]}, headers=bearer(free_key)),
               client.get("/v1/models", headers=bearer(free_key)),
               client.get("/v1/authorize", headers={**bearer(free_key), "X-Govern-Model": "open-7b",
                                                    "X-Govern-Capability": "generate"})]

    assert [response.status_code for response in answers] == [200, 200, 200, 200]
    assert [response.headers.get("Set-Cookie") for response in answers] == [None] * 4
    assert client.get_cookie("session").value == before


def test_an_admin_session_without_a_key_gets_the_401_of_no_key(client, session, ui_login, free_key):
    signed_in_admin(client, ui_login)

    check = client.post("/v1/check", json=OPEN)
    batch = client.post("/v1/check/batch", json={"checks": [OPEN]})
    models = client.get("/v1/models")
    forward = client.get("/v1/authorize", headers={"X-Govern-Model": "open-7b",
                                                   "X-Govern-Capability": "generate"})
    authzen = client.post("/access/v1/evaluation", json=evaluation(free_key[:16]))
    search = client.post("/access/v1/search/subject", json={
        "subject": {"type": "api_key"}, "resource": {"type": "model", "id": "open-7b"},
        "action": {"name": "generate"}})

    for response in (check, batch, models, forward, authzen, search):
        assert (response.status_code, response.json["code"]) == (401, "key_missing"), response.request.path
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="govern"'
    assert logged_reason(session, check.json["decision_id"]) == "key_missing"


def test_an_admin_session_beside_a_client_key_gets_what_the_key_alone_gets(app, client, session, ui_login,
                                                                             free_key):
    alone = app.test_client().post("/v1/check", json=FRONTIER, headers=bearer(free_key))
    signed_in_admin(client, ui_login)
    with_session = client.post("/v1/check", json=FRONTIER, headers=bearer(free_key))
    models = client.get("/v1/models", headers=bearer(free_key))

    assert (alone.json["allow"], alone.json["reason"]) == (False, "tier_too_low")
    assert (with_session.json["allow"], with_session.json["reason"], with_session.json["tier"]) == (
        False, "tier_too_low", "free")
    assert [model["id"] for model in models.json["data"]] == ["open-7b"]


def test_an_admin_session_beside_an_admin_key_is_no_enforcement_point(client, session, ui_login, free_key):
    """The admin's own key is no client key and no enforcement point's key, session or not."""
    signed_in_admin(client, ui_login)
    admin_key = make_user_key(session, "keyholder", frozenset({"admin"}))

    check = client.post("/v1/check", json=OPEN, headers=bearer(admin_key))
    authzen = client.post("/access/v1/evaluation", json=evaluation(free_key[:16], "open-7b"),
                          headers=bearer(admin_key))

    assert (check.status_code, check.json["code"]) == (401, "key_wrong_kind")
    assert check.json["message"] == "this endpoint needs a client key; the key sent is an admin key (401)"
    assert (authzen.status_code, authzen.json["code"]) == (401, "key_wrong_kind")
    assert authzen.json["message"] == ("this endpoint needs an enforcement-point (pep) key; "
                                       "the key sent is an admin key (401)")


def test_the_flask_request_hooks_never_run_for_a_decision(app: Flask, client, session, free_key, admin):
    seen: list[str] = []
    app.before_request(lambda: seen.append("before"))
    pep = make_pep_key(session)

    client.post("/v1/check", json=OPEN, headers=bearer(free_key))
    client.post("/access/v1/evaluation", json=evaluation(free_key[:16]), headers=bearer(pep))
    client.get("/.well-known/authzen-configuration")
    client.post("/access/v1/nowhere", json={})
    assert seen == []
    client.get("/v1/admin/tiers", headers=admin)
    assert seen == ["before"]


@pytest.mark.parametrize("path", ["/v1/nowhere", "/v1/check/more", "/access/v1/nowhere",
                                  "/access/v2/evaluation", "/access/"])
def test_an_unknown_path_of_the_plane_is_a_404_problem(client, path):
    response = client.post(path, json=OPEN, headers={"X-Request-ID": "lost-1"})

    assert (response.status_code, response.mimetype) == (404, PROBLEM)
    assert (response.json["code"], response.json["status"]) == ("not_found", 404)
    assert response.headers.get("Set-Cookie") is None


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/v1/check", {"POST"}),
    ("DELETE", "/v1/check/batch", {"POST"}),
    ("POST", "/v1/models", {"GET", "HEAD"}),
    ("PUT", "/v1/authorize", {"GET", "HEAD", "POST"}),
    ("PATCH", "/access/v1/evaluations", {"POST"}),
    ("GET", "/access/v1/search/resource", {"POST"}),
])
def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(client, method, path, allowed):
    response = client.open(path, method=method, headers={"X-Request-ID": "wrong-1"})

    assert (response.status_code, response.mimetype) == (405, PROBLEM)
    assert response.json["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed
    assert response.headers["X-Request-ID"] == "wrong-1"


@pytest.fixture
def decision_node(env: dict[str, str]) -> Iterator[FlaskClient]:
    """A decision-only app on the test instance (as `govern serve --decisions-only` runs it), with
    operations behind an admin or auditor key."""
    node = create_app({**env, "GOVERN_OPS_REQUIRE_KEY": "on"}, decisions_only=True)
    yield node.test_client()
    with node.app_context():
        node.extensions["govern.runtime"].stop()
        db.engine.dispose()


def test_a_decision_only_app_answers_decisions_and_operations(decision_node, session, admin, free_key):
    check = decision_node.post("/v1/check", json=OPEN, headers=bearer(free_key))

    assert (check.status_code, check.json["allow"]) == (200, True)
    assert logged_reason(session, check.json["decision_id"]) == "granted_by_tier"
    assert decision_node.get("/healthz").status_code == 200
    assert decision_node.get("/readyz").status_code == 200
    for path in ("/metrics", "/v1/status"):  # GOVERN_OPS_REQUIRE_KEY holds there too
        assert decision_node.get(path).status_code == 401, path
        assert decision_node.get(path, headers=admin).status_code == 200, path


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/login"), ("POST", "/login"), ("GET", "/"), ("GET", "/dashboard"), ("GET", "/decisions"),
    ("GET", "/v1/admin/policy"), ("POST", "/v1/admin/keys"), ("PATCH", "/v1/admin/organisations/1"),
    ("GET", "/v1/decisions"), ("GET", "/v1/audit/export"), ("GET", "/openapi.json"),
    ("GET", "/static/govern.css"), ("GET", "/login/sso/corp"),
    ("GET", "/v1//admin/policy"), ("GET", "//v1/admin/policy"), ("GET", "/access/../v1/admin/policy"),
])
def test_a_decision_only_app_answers_every_admin_path_with_a_404_problem(decision_node, admin, method, path):
    response = decision_node.open(path, method=method, headers=admin, json={})

    assert (response.status_code, response.mimetype) == (404, PROBLEM)
    assert response.json["code"] == "not_found"
    assert response.headers.get("Set-Cookie") is None
