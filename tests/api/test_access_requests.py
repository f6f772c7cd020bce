"""Access requests over HTTP: a deny names where to ask; the caller asks with its own key; two
admins grant it; the grant allows until it expires, then the deny is back. One request id links
the deny, the proposal and the first allowed decision. And the ways round it, each refused."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from factories import (
    add_models,
    make_governed_model,
    make_key,
    make_org,
    make_pep_key,
    make_signed_model,
    make_user_key,
)
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import AuditEvent

FRONTIER = {"model": "frontier-1", "capability": "generate"}
STANDARD_TOOLS = {"model": "chat-standard", "capability": "tools"}
JUSTIFICATION = "evaluating frontier-1 for our support desk"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def check(client: FlaskClient, key: str, question: dict[str, str] = FRONTIER) -> dict[str, Any]:
    response = client.post("/v1/check", json=question, headers=bearer(key))
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def poll(ask: Any, done: Any, limit: float) -> Any:
    """Ask until `done` holds or `limit` seconds have passed; returns the last answer."""
    deadline = time.monotonic() + limit
    answer = ask()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = ask()
    return answer


def ask(client: FlaskClient, key: str, **body: Any) -> Any:
    return client.post("/v1/access-requests", headers=bearer(key),
                       json={"justification": JUSTIFICATION, "duration_seconds": 3600, **body})


def actions(session: Session, target: str) -> list[str]:
    session.expire_all()
    return list(session.execute(select(AuditEvent.action).where(AuditEvent.target == target)
                                .order_by(AuditEvent.id)).scalars())


@pytest.fixture
def key(session: Session) -> str:
    """A client key of acme (tier verified): frontier-1 generate needs trusted."""
    add_models(session)
    return make_key(session, "acme", tier="verified")


@pytest.fixture
def bob(session: Session) -> dict[str, str]:
    """A second admin, so granting takes two people."""
    return bearer(make_user_key(session, "bob"))


def test_a_deny_a_higher_tier_would_allow_carries_a_request_handle(client, key):
    denied = check(client, key)
    assert denied["reason"] == "tier_too_low"
    assert denied["access_request"] == {"url": "http://127.0.0.1:8000/v1/access-requests",
                                        "decision_id": denied["decision_id"],
                                        "would_allow": {"tier": "trusted"}}


def test_allows_and_denies_no_tier_would_lift_carry_no_handle(client, key):
    assert "access_request" not in check(client, key, {"model": "chat-standard", "capability": "generate"})
    unknown = check(client, key, {"model": "no-such-model", "capability": "generate"})
    assert unknown["reason"] == "unknown_model" and "access_request" not in unknown


def test_forward_auth_deny_names_the_request_url_in_a_header(client, key):
    response = client.get("/v1/authorize", headers={**bearer(key), "X-Govern-Model": "frontier-1",
                                                    "X-Govern-Capability": "generate"})
    assert response.status_code == 403
    assert response.headers["X-Govern-Access-Request"] == "http://127.0.0.1:8000/v1/access-requests"
    assert response.json["access_request"]["would_allow"] == {"tier": "trusted"}


def test_deny_to_time_bound_allow_to_expiry(client, session, key, admin, bob):
    denied = check(client, key)
    made = ask(client, key, kind="capability", decision_id=denied["decision_id"], duration_seconds=3)
    assert made.status_code == 201
    request_id = made.json["id"]
    assert (made.json["state"], made.json["tier"], made.json["model"], made.json["capability"]) == \
        ("pending", "trusted", "frontier-1", "generate")

    first = client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    assert first.status_code == 200
    assert first.json["access_request"]["state"] == "pending"  # waits for the second admin
    assert first.json["proposal"]["state"] == "pending"
    assert check(client, key)["allow"] is False
    again = client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    assert again.status_code == 403 and again.json["code"] == "own_proposal"

    second = client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=bob,
                         json={"reason": "support pilot"})
    assert second.status_code == 200
    granted = second.json["access_request"]
    assert granted["state"] == "granted"
    allowed = poll(lambda: check(client, key), lambda answer: answer["allow"], 2.0)
    assert (allowed["allow"], allowed["tier"]) == (True, "trusted")
    # The grant is for this capability only: the rest of the organisation's tier is unchanged.
    assert check(client, key, {"model": "frontier-1", "capability": "tools"})["allow"] is False
    assert check(client, key, STANDARD_TOOLS)["allow"] is False
    # The model list agrees with the checks (a picker offers what the next call allows).
    listed = client.get("/v1/models", headers=bearer(key)).json["data"]
    assert {m["id"]: m["capabilities"] for m in listed}["frontier-1"] == ["generate"]

    trail = client.get(f"/v1/admin/access-requests/{request_id}", headers=admin).json
    assert trail["deny"]["decision_id"] == denied["decision_id"]
    assert trail["proposal"]["state"] == "applied"
    assert trail["proposal"]["id"] == granted["proposal_id"]
    assert trail["first_allowed"]["decision_id"] == allowed["decision_id"]

    expires = datetime.fromisoformat(granted["expires_at"]).timestamp()
    after = poll(lambda: check(client, key), lambda answer: not answer["allow"],
                 expires - time.time() + 2.0)
    assert after["allow"] is False and after["reason"] == "tier_too_low"
    assert time.time() >= expires
    own = client.get(f"/v1/access-requests/{request_id}", headers=bearer(key))
    assert own.json["status"] == "expired"
    assert actions(session, f"access_request:{request_id}") == [
        "access_request.create", "access_request.decide", "access_request.expire"]


def test_a_tier_grant_raises_the_tier_for_everything_until_expiry(client, key, admin, bob):
    made = ask(client, key, kind="tier", tier="trusted")  # no deny before it: allowed too
    request_id = made.json["id"]
    assert made.status_code == 201 and made.json["denied_decision_id"] is None
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=bob, json={})
    assert poll(lambda: check(client, key, STANDARD_TOOLS), lambda a: a["allow"], 2.0)["tier"] == "trusted"
    assert check(client, key)["allow"] is True
    trail = client.get(f"/v1/admin/access-requests/{request_id}", headers=admin).json
    assert trail["deny"] is None and trail["first_allowed"]["tier"] == "trusted"


def test_one_organisation_cannot_ask_for_another(client, session, key, admin, bob):
    make_org(session, "beta", "verified")
    beta = make_key(session, "beta")
    beta_deny = check(client, beta)["decision_id"]
    # Another organisation's deny is unknown to acme, as is a made-up id.
    linked = ask(client, key, kind="capability", decision_id=beta_deny)
    assert linked.status_code == 404 and linked.json["code"] == "decision_not_found"
    # Naming beta in the body changes nothing: the request is acme's, from acme's key.
    made = ask(client, key, kind="capability", org_id=2, org="beta", **FRONTIER)
    assert made.status_code == 201 and made.json["org_name"] == "acme"
    request_id = made.json["id"]
    assert client.get(f"/v1/access-requests/{request_id}", headers=bearer(beta)).status_code == 404
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=bob, json={})
    assert poll(lambda: check(client, key), lambda a: a["allow"], 2.0)["allow"] is True
    assert check(client, beta)["allow"] is False


def test_a_granted_request_cannot_be_approved_or_rejected_again(client, key, admin, bob):
    request_id = ask(client, key, kind="capability", **FRONTIER).json["id"]
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=bob, json={})
    for verb, body in (("approve", {}), ("reject", {"reason": "no"})):
        again = client.post(f"/v1/admin/access-requests/{request_id}/{verb}", headers=bob, json=body)
        assert again.status_code == 409 and again.json["code"] == "access_request_decided"


def test_rejecting_needs_a_reason_and_withdraws_the_waiting_proposal(client, key, admin, bob):
    request_id = ask(client, key, kind="capability", **FRONTIER).json["id"]
    proposal = client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin,
                           json={}).json["proposal"]
    bare = client.post(f"/v1/admin/access-requests/{request_id}/reject", headers=bob, json={})
    assert bare.status_code == 400 and bare.json["code"] == "missing_field"
    rejected = client.post(f"/v1/admin/access-requests/{request_id}/reject", headers=bob,
                           json={"reason": "use the standard models"})
    assert rejected.json["access_request"]["state"] == "rejected"
    assert rejected.json["access_request"]["reason"] == "use the standard models"
    assert rejected.json["proposal"]["state"] == "rejected"
    late = client.post(f"/v1/admin/proposals/{proposal['id']}/approve", headers=bob, json={})
    assert late.status_code == 409
    assert check(client, key)["allow"] is False


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"kind": "tier", "tier": "verified"}, 409, "already_allowed"),
    ({"kind": "capability", "model": "chat-standard", "capability": "generate"}, 409, "already_allowed"),
    ({"kind": "tier", "tier": "emperor"}, 400, "unknown_tier"),
    ({"kind": "everything"}, 400, "invalid_kind"),
    ({"kind": "capability", "model": "no-such-model", "capability": "generate"}, 400, "unknown_model"),
    ({"kind": "capability", **FRONTIER, "duration_seconds": 0}, 400, "invalid_duration"),
    ({"kind": "capability", **FRONTIER, "justification": "   "}, 400, "invalid_justification"),
    ({"kind": "capability", **FRONTIER, "decision_id": "0" * 26}, 404, "decision_not_found"),
])
def test_a_request_that_would_change_nothing_or_is_malformed_is_refused(client, key, body, status, code):
    response = ask(client, key, **body)
    assert (response.status_code, response.json["code"]) == (status, code)


def test_asking_needs_a_valid_client_key(client, key, admin):
    assert client.post("/v1/access-requests", json={}).status_code == 401
    # An admin key is not a caller that was denied.
    wrong = client.post("/v1/access-requests", headers=admin, json={"kind": "tier", "tier": "trusted"})
    assert wrong.status_code == 401 and wrong.json["code"] == "key_wrong_kind"


def test_a_capped_key_gets_no_handle_and_cannot_ask_past_its_cap(client, session, key):
    capped = make_key(session, "acme", tier_cap="verified")
    assert "access_request" not in check(client, capped)
    response = ask(client, capped, kind="capability", **FRONTIER)
    assert (response.status_code, response.json["code"]) == (409, "key_capped")


def evaluate(client: FlaskClient, pep: str, subject: dict[str, str]) -> dict[str, Any]:
    response = client.post("/access/v1/evaluation", headers=bearer(pep), json={
        "subject": subject, "resource": {"type": "model", "id": FRONTIER["model"]},
        "action": {"name": FRONTIER["capability"]}})
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def test_authzen_carries_the_handle_and_follows_the_grant_held_to_a_key_cap(client, session, key, admin,
                                                                             bob):
    pep = make_pep_key(session, "edge")
    capped = make_key(session, "acme", tier_cap="verified")
    subject, capped_subject = ({"type": "api_key", "id": "_".join(k.split("_", 2)[:2])}
                               for k in (key, capped))
    denied = evaluate(client, pep, subject)
    assert denied["decision"] is False
    assert denied["context"]["access_request"]["would_allow"] == {"tier": "trusted"}
    assert "access_request" not in evaluate(client, pep, capped_subject)["context"]

    request_id = ask(client, key, kind="tier", tier="trusted").json["id"]
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=admin, json={})
    client.post(f"/v1/admin/access-requests/{request_id}/approve", headers=bob, json={})
    allowed = poll(lambda: evaluate(client, pep, subject), lambda answer: answer["decision"], 2.0)
    assert (allowed["decision"], allowed["context"]["tier"]) == (True, "trusted")
    organisation = evaluate(client, pep, {"type": "organisation", "id": "acme"})
    assert organisation["decision"] is True
    searched = client.post("/access/v1/search/resource", headers=bearer(pep), json={
        "subject": subject, "resource": {"type": "model"}, "action": {"name": "generate"}})
    assert "frontier-1" in [r["id"] for r in searched.json["results"]]
    # The grant raises acme's tier; the capped key stays at its cap, as on its own /v1/check.
    assert evaluate(client, pep, capped_subject)["decision"] is False
    assert check(client, capped)["allow"] is False


def test_a_sign_off_for_a_higher_tier_is_asked_for_but_a_missing_sign_off_is_not(client, session, key):
    make_signed_model(session, "signed-1", group="standard", tier="trusted")
    make_governed_model(session, "unsigned-1", group="standard")
    below = check(client, key, {"model": "signed-1", "capability": "generate"})
    assert below["reason"] == "signoff_below_tier"
    assert below["access_request"]["would_allow"] == {"tier": "trusted"}
    assert ask(client, key, kind="capability", decision_id=below["decision_id"]).json["tier"] == "trusted"
    # Without a sign-off in force only its approvers open the model: no grant stands in for them.
    unsigned = check(client, key, {"model": "unsigned-1", "capability": "generate"})
    assert unsigned["reason"] == "not_signed_off" and "access_request" not in unsigned
    refused = ask(client, key, kind="model", decision_id=unsigned["decision_id"])
    assert (refused.status_code, refused.json["code"]) == (409, "not_signed_off")
