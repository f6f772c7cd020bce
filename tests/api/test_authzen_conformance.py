"""AuthZEN 1.0 conformance, section by section of the certification scenario
(certification/authorization-api-1_0-scenario.md in openid/authzen): error handling of a single
evaluation (c-2-4), header handling (c-2-5), per-item errors of a batch (c-3-4) and the
evaluations semantics, the HTTPS JSON binding (c-5) and the metadata document (c-6).

Default policy: acme (verified) may `generate` on open-7b and chat-standard, not on frontier-1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern import create_app
from govern.config import load_settings
from govern.errors import ConfigError
from govern.models import Decision

ENDPOINTS = ["/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/subject",
             "/access/v1/search/resource", "/access/v1/search/action"]
WWW_AUTHENTICATE = 'Bearer realm="govern"'


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def rows(session: Session) -> list[Decision]:
    session.expire_all()
    return list(session.execute(select(Decision).order_by(Decision.decision_id)).scalars())


@pytest.fixture
def world(session: Session) -> dict[str, str]:
    add_models(session)
    return {"acme": make_key(session, "acme", tier="verified"), "pep": make_pep_key(session)}


@pytest.fixture
def pep(world: dict[str, str]) -> dict[str, str]:
    return bearer(world["pep"])


def subject(world: dict[str, str]) -> dict[str, str]:
    return {"type": "api_key", "id": world["acme"][:16]}


def valid_body(world: dict[str, str], endpoint: str) -> dict[str, Any]:
    """A well-formed request for each endpoint (each answers 200 with a pep key)."""
    body: dict[str, Any] = {"subject": subject(world), "action": {"name": "generate"},
                            "resource": {"type": "model", "id": "open-7b"}}
    if endpoint.endswith("/subject"):
        body["subject"] = {"type": "organisation"}
    if endpoint.endswith("/resource"):
        body["resource"] = {"type": "model"}
    return body


def model(name: str) -> dict[str, Any]:
    return {"resource": {"type": "model", "id": name}}


def batch(world: dict[str, str], items: list[Any], semantic: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": subject(world), "action": {"name": "generate"}, "evaluations": items}
    if semantic:
        body["options"] = {"evaluations_semantic": semantic}
    return body


# -- c-2-4-3 / c-5: the HTTPS JSON binding ---------------------------------------------------------

@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_application_json_is_a_400(client, world, pep, endpoint, content_type):
    headers = {**pep, "X-Request-ID": "ct-1", **({"Content-Type": content_type} if content_type else {})}


    response = client.post(endpoint, data=json.dumps(valid_body(world, endpoint)), headers=headers)

    assert response.status_code == 400
    assert response.json["code"] == "unsupported_content_type"
    assert response.headers["X-Request-ID"] == "ct-1"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_application_json_is_taken_with_a_charset_and_text_plain_is_not(client, world, pep, endpoint):
    body = json.dumps(valid_body(world, endpoint))

    taken = client.post(endpoint, data=body,
                        headers={**pep, "Content-Type": "application/json; charset=utf-8"})
    refused = client.post(endpoint, data=body, headers={**pep, "Content-Type": "text/plain; charset=utf-8"})

    assert (taken.status_code, refused.status_code) == (200, 400)


def test_a_form_urlencoded_evaluation_leaves_no_decision_row(client, session, world, pep):


    client.post("/access/v1/evaluation", data=json.dumps(valid_body(world, "/access/v1/evaluation")),
                headers={**pep, "Content-Type": "application/x-www-form-urlencoded"})

    assert rows(session) == []


# -- Sender Authentication Failure: the enforcement point is authenticated first -------------------

BAD_REQUESTS = [
    pytest.param({"data": "not json", "headers": {"Content-Type": "application/json"}}, id="malformed-json"),
    pytest.param({"data": "", "headers": {"Content-Type": "application/json"}}, id="empty-body"),
    pytest.param({"json": {"subject": "alice"}}, id="invalid-field"),
    pytest.param({"data": "{}", "headers": {"Content-Type": "text/plain"}}, id="content-type"),
    pytest.param({"json": {"options": {"evaluations_semantic": {}}}}, id="semantic-object"),
    pytest.param({"json": {}, "headers": {"X-Request-ID": "bad\x01id"}}, id="request-id"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("request_options", BAD_REQUESTS)
@pytest.mark.parametrize("credential", [None, "gvk_000000000000_nonsense", "acme"])
def test_a_caller_without_a_pep_key_gets_401_whatever_the_body(client, world, endpoint, request_options,
                                                               credential):
    key = world.get(credential, credential) if credential else None
    headers = {**(bearer(key) if key else {}), **request_options.get("headers", {})}
    options = {name: value for name, value in request_options.items() if name != "headers"}

    response = client.post(endpoint, headers=headers, **options)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    expected = {None: "key_missing", "acme": "key_wrong_kind"}.get(credential, "key_unknown")
    assert response.json["code"] == expected


def test_an_unauthenticated_malformed_evaluation_is_logged_like_a_well_formed_one(client, session, world):
    response = client.post("/access/v1/evaluation", data="not json",
                           headers={"Content-Type": "application/json", "X-Request-ID": "anon 1"})

    assert response.status_code == 401
    [row] = rows(session)
    assert (row.allow, row.reason, row.request_id, row.model) == (False, "key_missing", "anon 1", None)
    assert row.decision_id == response.json["decision_id"]


# -- options.evaluations_semantic and evaluations of the wrong type --------------------------------

@pytest.mark.parametrize("semantic", [{}, [], {"name": "execute_all"}, [["deny_on_first_deny"]]])
def test_an_evaluations_semantic_that_is_not_one_of_the_three_names_is_a_400(client, world, pep, semantic):
    body = batch(world, [model("open-7b")])
    body["options"] = {"evaluations_semantic": semantic}

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"
    assert "evaluations_semantic" in response.json["message"]


@pytest.mark.parametrize("evaluations", [{}, False, None, 0, ""])
def test_evaluations_that_is_not_an_array_is_a_400(client, session, world, pep, evaluations):
    body = {**valid_body(world, "/access/v1/evaluation"), "evaluations": evaluations}

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"
    assert response.json["message"] == "'evaluations' must be an array"
    assert rows(session) == []


# -- c-3-4: an error in one evaluation is answered in its place ------------------------------------

def test_an_item_missing_a_field_is_a_closed_decision_with_its_error(client, session, world, pep):
    """c-3-4-1: the second evaluation has no resource."""
    body = batch(world, [model("open-7b"), {}], "execute_all")

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert response.status_code == 200
    first, second = response.json["evaluations"]
    assert first["decision"] is True
    assert second == {"decision": False, "context": {"error": {
        "status": 400, "code": "missing_field", "message": "evaluations[1]: 'resource' is required"}}}
    assert [row.model for row in rows(session)] == ["open-7b"]


def test_errors_keep_the_batch_length_and_order(client, world, pep):
    items = [3, model("open-7b"), {"resource": {"type": "model", "id": 5}}, model("frontier-1"),
             {"action": {}, **model("open-7b")}, model("chat-standard")]

    response = client.post("/access/v1/evaluations", json=batch(world, items), headers=pep)

    answers = response.json["evaluations"]
    assert [a["decision"] for a in answers] == [False, True, False, False, False, True]
    assert [a["context"].get("error", {}).get("code") for a in answers] == [
        "invalid_field", None, "invalid_field", None, "missing_field", None]
    assert answers[0]["context"]["error"]["message"] == "evaluations[0] must be an object"
    assert answers[3]["context"]["reason"] == "tier_too_low"


def test_under_deny_on_first_deny_an_error_is_the_first_denial(client, session, world, pep):
    items = [model("open-7b"), {"resource": "open-7b"}, model("chat-standard")]

    response = client.post("/access/v1/evaluations", json=batch(world, items, "deny_on_first_deny"),
                           headers=pep)

    answers = response.json["evaluations"]
    assert [a["decision"] for a in answers] == [True, False]
    assert answers[1]["context"]["error"]["code"] == "invalid_field"
    assert [row.model for row in rows(session)] == ["open-7b"]


def test_under_deny_on_first_deny_a_deny_before_the_error_stops_first(client, session, world, pep):
    items = [model("frontier-1"), {}, model("open-7b")]

    response = client.post("/access/v1/evaluations", json=batch(world, items, "deny_on_first_deny"),
                           headers=pep)

    assert [a["context"].get("reason") for a in response.json["evaluations"]] == ["tier_too_low"]
    assert len(rows(session)) == 1


def test_under_permit_on_first_permit_errors_are_denials_that_do_not_stop_it(client, session, world, pep):
    items = [{}, model("frontier-1"), model("open-7b"), {}, model("chat-standard")]

    response = client.post("/access/v1/evaluations", json=batch(world, items, "permit_on_first_permit"),
                           headers=pep)

    answers = response.json["evaluations"]
    assert [a["decision"] for a in answers] == [False, False, True]
    assert "error" in answers[0]["context"]
    assert sorted(row.model for row in rows(session)) == ["frontier-1", "open-7b"]


def test_a_batch_of_errors_only_is_answered_item_by_item(client, session, world, pep):
    response = client.post("/access/v1/evaluations", json=batch(world, [{}, 7]), headers=pep)

    assert response.status_code == 200
    assert [a["decision"] for a in response.json["evaluations"]] == [False, False]
    assert rows(session) == []


def test_a_batch_of_errors_only_still_needs_a_pep_key(client, world):
    response = client.post("/access/v1/evaluations", json=batch(world, [{}, 7]),
                           headers=bearer(world["acme"]))

    assert response.status_code == 401
    assert response.json["code"] == "key_wrong_kind"


# -- c-2-5 / Request Identification: X-Request-ID is an arbitrary string ---------------------------

@pytest.mark.parametrize("request_id", [
    "has spaces in it",
    "quote\" and 'apostrophe' <b>&amp;; DROP TABLE decisions;--",
    "caf\u00e9 \u00fcber",
    "x y" * 66 + "xx",
])
def test_any_visible_request_id_is_echoed_and_stored_as_sent(client, session, world, pep, request_id):
    body = valid_body(world, "/access/v1/evaluation")

    response = client.post("/access/v1/evaluation", json=body, headers={**pep, "X-Request-ID": request_id})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id
    [row] = rows(session)
    assert row.request_id == request_id


@pytest.mark.parametrize(("refused", "taken"), [
    ("tab\there", "tab here"), ("bell\x07!", "bell !"), ("nul\x00!", "nul !"), ("del\x7f!", "del !"),
    ("x" * 201, "x y" * 66 + "xx"),
])
@pytest.mark.parametrize("endpoint", ["/access/v1/evaluation", "/v1/check"])
def test_only_control_characters_or_a_length_over_200_make_a_request_id_a_400(client, session, world, pep,
                                                                            endpoint, refused, taken):
    body = valid_body(world, endpoint) if endpoint.startswith("/access") else {
        "model": "open-7b", "capability": "generate"}
    key = pep if endpoint.startswith("/access") else bearer(world["acme"])

    response = client.post(endpoint, json=body, headers={**key, "X-Request-ID": refused})

    assert response.status_code == 400
    assert response.json["code"] == "invalid_request_id"
    assert "X-Request-ID" not in response.headers
    assert rows(session) == []
    answered = client.post(endpoint, json=body, headers={**key, "X-Request-ID": taken})
    assert (answered.status_code, answered.headers["X-Request-ID"]) == (200, taken)


def test_v1_check_takes_the_same_request_ids(client, session, world):
    response = client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                           headers={**bearer(world["acme"]), "X-Request-ID": "batch 7 / item 3"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "batch 7 / item 3"
    assert rows(session)[0].request_id == "batch 7 / item 3"


def test_forward_auth_echoes_and_stores_the_same_request_ids(client, session, world):
    response = client.get("/v1/authorize", headers={**bearer(world["acme"]), "X-Request-ID": "edge 42",
                                                    "X-Govern-Model": "open-7b",
                                                    "X-Govern-Capability": "generate"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "edge 42"
    assert rows(session)[0].request_id == "edge 42"


# -- c-6: the metadata document comes from the configured public URL -------------------------------

ENDPOINT_NAMES = {"access_evaluation_endpoint": "/access/v1/evaluation",
                  "access_evaluations_endpoint": "/access/v1/evaluations",
                  "search_subject_endpoint": "/access/v1/search/subject",
                  "search_resource_endpoint": "/access/v1/search/resource",
                  "search_action_endpoint": "/access/v1/search/action"}


def metadata_of(environ: dict[str, str], host: str) -> dict[str, Any]:
    app = create_app(environ)
    try:
        response = app.test_client().get("/.well-known/authzen-configuration", base_url=f"http://{host}")
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        document: dict[str, Any] = response.json
        return document
    finally:
        app.extensions["govern.runtime"].stop()


@pytest.mark.parametrize("public_url", ["https://pdp.example.com", "https://pdp.example.com/",
                                        "https://edge.example.com:8443/govern"])
def test_metadata_urls_are_built_from_the_public_url_not_the_host_header(env, public_url):
    document = metadata_of({**env, "GOVERN_PUBLIC_URL": public_url}, "attacker.example.net")

    base = public_url.rstrip("/")
    assert document == {"policy_decision_point": base,
                        **{name: base + path for name, path in ENDPOINT_NAMES.items()}}


def test_metadata_defaults_to_the_bind_address(env):
    document = metadata_of({**env, "GOVERN_HOST": "0.0.0.0", "GOVERN_PORT": "9100"}, "attacker.example.net")

    assert document["policy_decision_point"] == "http://0.0.0.0:9100"
    assert document["access_evaluation_endpoint"] == "http://0.0.0.0:9100/access/v1/evaluation"


@pytest.mark.parametrize("public_url", ["pdp.example.com", "ftp://pdp.example.com", "https://",
                                        "https://pdp.example.com/?tenant=1", "https://pdp.example.com/#x",
                                        "https://user:pw@pdp.example.com", "https://pdp.example.com:port"])
def test_a_public_url_that_is_not_a_plain_http_url_is_refused_at_start(tmp_path: Path, public_url):
    with pytest.raises(ConfigError, match="GOVERN_PUBLIC_URL"):
        load_settings({"GOVERN_PUBLIC_URL": public_url, "GOVERN_SECRET_KEY": "x" * 40}, tmp_path)


@pytest.mark.parametrize("default", [{"subject": "alice"}, {"subject": {"type": "api_key", "id": 7}},
                                     {"action": {"name": ""}}, {"resource": []}, {"context": "x"}])
def test_a_malformed_default_is_a_400_of_the_batch_and_the_same_in_an_item_is_that_items_error(
        client, world, pep, default):
    whole = client.post("/access/v1/evaluations", json={**batch(world, [model("open-7b")]), **default},
                        headers=pep)
    item = client.post("/access/v1/evaluations", json=batch(world, [{**model("open-7b"), **default},
                                                                    model("open-7b")]), headers=pep)

    assert (whole.status_code, whole.json["code"]) == (400, "invalid_field")
    assert item.status_code == 200
    assert [a["decision"] for a in item.json["evaluations"]] == [False, True]
    assert item.json["evaluations"][0]["context"]["error"]["code"] == "invalid_field"
