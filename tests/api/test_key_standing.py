"""Every kind of key (client, admin, auditor, enforcement point) honours suspension, revocation and
expiry on every endpoint it can call: an ended or suspended key changes nothing, reads nothing and
gets no answer but a refusal (or, for a client key's suspension, a logged deny)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key, make_user_key
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from govern.identity.keys import revoke_key, update_key

ACTOR = "test"
PEP_QUESTION = {"subject": {"type": "organisation", "id": "acme"},
                "resource": {"type": "model", "id": "chat-standard"}, "action": {"name": "generate"}}
SEARCH_SUBJECT = {"subject": {"type": "api_key"}, "resource": {"type": "model", "id": "chat-standard"},
                  "action": {"name": "generate"}}
SEARCH_RESOURCE = {"subject": {"type": "organisation", "id": "acme"}, "resource": {"type": "model"},
                   "action": {"name": "generate"}}
SEARCH_ACTION = {"subject": {"type": "organisation", "id": "acme"},
                 "resource": {"type": "model", "id": "chat-standard"}}
CHECK = {"model": "chat-standard", "capability": "generate"}

Send = Callable[[FlaskClient, dict[str, str]], Any]

# Endpoint families, per kind of key: (name, send). Each must refuse an ended or suspended key.
ADMIN_ENDPOINTS: list[tuple[str, Send]] = [
    ("create-organisation", lambda c, h: c.post("/v1/admin/organisations",
                                                json={"name": "evil", "tier": "internal"}, headers=h)),
    ("list-organisations", lambda c, h: c.get("/v1/admin/organisations", headers=h)),
    ("list-keys", lambda c, h: c.get("/v1/admin/keys", headers=h)),
    ("show-policy", lambda c, h: c.get("/v1/admin/policy", headers=h)),
    ("list-decisions", lambda c, h: c.get("/v1/decisions", headers=h)),
]
AUDITOR_ENDPOINTS: list[tuple[str, Send]] = [
    ("list-decisions", lambda c, h: c.get("/v1/decisions", headers=h)),
    ("export-decisions", lambda c, h: c.get("/v1/decisions/export?format=jsonl", headers=h)),
    ("export-audit", lambda c, h: c.get("/v1/audit/export?format=jsonl", headers=h)),
]
PEP_ENDPOINTS: list[tuple[str, Send]] = [
    ("evaluation", lambda c, h: c.post("/access/v1/evaluation", json=PEP_QUESTION, headers=h)),
    ("evaluations", lambda c, h: c.post("/access/v1/evaluations",
                                        json={"evaluations": [PEP_QUESTION]}, headers=h)),
    ("search-subject", lambda c, h: c.post("/access/v1/search/subject", json=SEARCH_SUBJECT, headers=h)),
    ("search-resource", lambda c, h: c.post("/access/v1/search/resource", json=SEARCH_RESOURCE,
                                            headers=h)),
    ("search-action", lambda c, h: c.post("/access/v1/search/action", json=SEARCH_ACTION, headers=h)),
]
CLIENT_ENDPOINTS: list[tuple[str, Send]] = [
    ("check", lambda c, h: c.post("/v1/check", json=CHECK, headers=h)),
    ("check-batch", lambda c, h: c.post("/v1/check/batch", json={"checks": [CHECK]}, headers=h)),
    ("authorize", lambda c, h: c.get("/v1/authorize", headers={
        **h, "X-Govern-Model": "chat-standard", "X-Govern-Capability": "generate"})),
    ("models", lambda c, h: c.get("/v1/models", headers=h)),
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def poll(ask: Callable[[], Any], done: Callable[[Any], bool], limit: float = 5.0) -> Any:
    """Ask until `done` holds or `limit` seconds have passed; the decision endpoints follow a change
    within one refresh interval (0.05 s in tests), the limit only bounds the loop."""
    deadline = time.monotonic() + limit
    answer = ask()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask()
    return answer


def end(session: Session, key: str, how: str) -> str:
    """Suspend, revoke or expire `key`; the reason code a refusal must then carry."""
    prefix = key[:16]
    if how == "suspended":
        update_key(session, prefix, actor=ACTOR, suspended=True)
    elif how == "revoked":
        revoke_key(session, prefix, actor=ACTOR)
    else:
        update_key(session, prefix, actor=ACTOR, expires_at=datetime.now(UTC) + timedelta(seconds=1))
        time.sleep(1.05)
    return f"key_{how}"


def refused(response: Any, code: str) -> bool:
    return (response.status_code == 401 and response.json["code"] == code
            and response.mimetype == "application/problem+json")


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    add_models(session)
    return {"admin": make_user_key(session, "adam", frozenset({"admin"})),
            "auditor": make_user_key(session, "aude", frozenset({"auditor"})),
            "pep": make_pep_key(session, "edge"),
            "client": make_key(session, "acme", tier="internal")}


STATES = ["suspended", "revoked", "expired"]


@pytest.mark.parametrize("how", STATES)
@pytest.mark.parametrize(("kind", "endpoints"), [("admin", ADMIN_ENDPOINTS), ("auditor", AUDITOR_ENDPOINTS)],
                         ids=["admin", "auditor"])
def test_an_ended_or_suspended_admin_kind_key_is_refused_at_once_everywhere(
        client, session, keys, kind, endpoints, how):
    headers = bearer(keys[kind])
    for name, send in endpoints:
        assert send(client, headers).status_code in (200, 201, 202), name  # 202: proposed

    code = end(session, keys[kind], how)

    for name, send in endpoints:
        response = send(client, headers)  # no waiting: the admin API reads the key afresh
        assert refused(response, code), (name, response.status_code, response.json)


def test_a_suspended_admin_key_creates_no_organisation(client, session, keys):
    update_key(session, keys["admin"][:16], actor=ACTOR, suspended=True)

    response = client.post("/v1/admin/organisations", json={"name": "evil", "tier": "internal"},
                           headers=bearer(keys["admin"]))

    assert (response.status_code, response.json["code"]) == (401, "key_suspended")
    names = [o["name"] for o in client.get("/v1/admin/organisations",
                                          headers=bearer(keys["auditor"])).json["organisations"]]
    assert "evil" not in names


def test_a_suspended_admin_key_cannot_lift_its_own_suspension(client, session, keys):
    own = keys["admin"][:16]
    update_key(session, own, actor=ACTOR, suspended=True)

    response = client.patch(f"/v1/admin/keys/{own}", json={"suspended": False},
                            headers=bearer(keys["admin"]))

    assert (response.status_code, response.json["code"]) == (401, "key_suspended")
    session.expire_all()
    assert client.get(f"/v1/admin/keys/{own}", headers=bearer(make_user_key(session, "root"))
                      ).json["suspended"] is True


def test_an_unsuspended_admin_key_works_again(client, session, keys):
    update_key(session, keys["admin"][:16], actor=ACTOR, suspended=True)
    assert client.get("/v1/admin/keys", headers=bearer(keys["admin"])).status_code == 401

    update_key(session, keys["admin"][:16], actor=ACTOR, suspended=False)

    assert client.get("/v1/admin/keys", headers=bearer(keys["admin"])).status_code == 200


@pytest.mark.parametrize("how", STATES)
@pytest.mark.parametrize(("name", "send"), PEP_ENDPOINTS, ids=[n for n, _ in PEP_ENDPOINTS])
def test_an_ended_or_suspended_enforcement_point_key_gets_no_answer(client, session, keys, name, send, how):
    headers = bearer(keys["pep"])
    assert send(client, headers).status_code == 200

    code = end(session, keys["pep"], how)

    response = send(client, headers)  # no waiting: an enforcement point's key is read afresh
    assert refused(response, code), (response.status_code, response.json)
    assert "results" not in response.json and "decision" not in response.json


def test_a_suspended_enforcement_point_key_lists_no_subject_at_once(client, session, keys):
    headers = bearer(keys["pep"])
    listed = client.post("/access/v1/search/subject", json=SEARCH_SUBJECT, headers=headers)
    assert [r["id"] for r in listed.json["results"]] == [keys["client"][:16]]

    update_key(session, keys["pep"][:16], actor=ACTOR, suspended=True)

    response = client.post("/access/v1/search/subject", json=SEARCH_SUBJECT, headers=headers)
    assert refused(response, "key_suspended")


@pytest.mark.parametrize("how", ["revoked", "expired"])
@pytest.mark.parametrize(("name", "send"), CLIENT_ENDPOINTS, ids=[n for n, _ in CLIENT_ENDPOINTS])
def test_an_ended_client_key_is_refused(client, session, keys, name, send, how):
    headers = bearer(keys["client"])
    assert send(client, headers).status_code == 200

    code = end(session, keys["client"], how)

    response = poll(lambda: send(client, headers), lambda r: r.status_code != 200)
    assert (response.status_code, response.json["code"]) == (401, code)


def test_a_suspended_client_key_is_denied_everywhere(client, session, keys):
    headers = bearer(keys["client"])
    update_key(session, keys["client"][:16], actor=ACTOR, suspended=True)

    check = poll(lambda: client.post("/v1/check", json=CHECK, headers=headers),
                 lambda r: r.json["allow"] is False)
    assert (check.json["allow"], check.json["reason"]) == (False, "key_suspended")
    batch = client.post("/v1/check/batch", json={"checks": [CHECK]}, headers=headers)
    assert [(r["allow"], r["reason"]) for r in batch.json["results"]] == [(False, "key_suspended")]
    gate = client.get("/v1/authorize", headers={**headers, "X-Govern-Model": "chat-standard",
                                                "X-Govern-Capability": "generate"})
    assert (gate.status_code, gate.headers["X-Govern-Reason"]) == (403, "key_suspended")
    assert client.get("/v1/models", headers=headers).json["data"] == []


@pytest.mark.parametrize("kind", ["admin", "pep", "client"])
def test_a_key_of_another_kind_is_refused(client, keys, kind):
    wrong = {"admin": keys["pep"], "pep": keys["admin"], "client": keys["pep"]}[kind]
    send = {"admin": ADMIN_ENDPOINTS[0][1], "pep": PEP_ENDPOINTS[2][1],
            "client": CLIENT_ENDPOINTS[0][1]}[kind]

    response = send(client, bearer(wrong))

    assert (response.status_code, response.json["code"]) == (401, "key_wrong_kind")


# -- an ended key stays ended ----------------------------------------------------------------------
LATER = "2999-01-01T00:00:00Z"


def test_an_expired_key_cannot_be_brought_back_by_a_new_expiry(client, session, keys, admin):
    prefix = keys["client"][:16]
    end(session, keys["client"], "expired")

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": LATER}, headers=admin)

    assert (response.status_code, response.json["code"]) == (409, "key_ended")
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["status"] == "expired"
    answer = client.post("/v1/check", json=CHECK, headers=bearer(keys["client"]))
    assert (answer.status_code, answer.json["code"]) == (401, "key_expired")


@pytest.mark.parametrize("kind", ["admin", "pep"])
def test_an_expired_admin_or_enforcement_point_key_stays_ended(client, session, keys, admin, kind):
    prefix = keys[kind][:16]
    end(session, keys[kind], "expired")

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": LATER}, headers=admin)

    assert (response.status_code, response.json["code"]) == (409, "key_ended")
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["status"] == "expired"


def test_a_key_rotated_out_without_overlap_stays_ended(client, session, keys, admin):
    prefix = keys["client"][:16]
    rotated = client.post(f"/v1/admin/keys/{prefix}/rotate", json={"overlap_seconds": 0}, headers=admin)
    assert rotated.status_code == 201

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": LATER}, headers=admin)

    assert (response.status_code, response.json["code"]) == (409, "key_ended")
    answer = client.post("/v1/check", json=CHECK, headers=bearer(keys["client"]))
    assert (answer.status_code, answer.json["code"]) == (401, "key_expired")


def test_a_key_in_its_rotation_overlap_cannot_have_the_overlap_extended(client, session, keys, admin):
    prefix = keys["client"][:16]
    rotated = client.post(f"/v1/admin/keys/{prefix}/rotate", json={"overlap_seconds": 3600}, headers=admin)
    overlap_end = client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["expires_at"]

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": LATER}, headers=admin)

    assert (response.status_code, response.json["code"]) == (409, "key_rotated")
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["expires_at"] == overlap_end
    assert rotated.json["rotated_from"] == prefix


def test_a_key_in_its_rotation_overlap_may_end_sooner(client, session, keys, admin):
    prefix = keys["client"][:16]
    client.post(f"/v1/admin/keys/{prefix}/rotate", json={"overlap_seconds": 3600}, headers=admin)
    sooner = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": sooner}, headers=admin)

    assert response.status_code == 200
    assert datetime.fromisoformat(response.json["expires_at"]) == datetime.fromisoformat(sooner)


def test_a_live_key_may_still_get_a_later_expiry(client, keys, admin):
    prefix = keys["client"][:16]

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"expires_at": LATER}, headers=admin)

    assert response.status_code == 200
    assert datetime.fromisoformat(response.json["expires_at"]) == datetime(2999, 1, 1, tzinfo=UTC)
