"""The admin JSON API under /v1/admin: policy pieces, organisations, keys, and who may call it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import add_models, make_key, make_org, make_user_key
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.models import AuditEvent

SEEDED_VERSION = 1
WWW_AUTHENTICATE = 'Bearer realm="govern"'
DEFAULT_TIERS = ["free", "verified", "trusted", "internal"]
ALICE = "user:alice"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def poll(ask: Callable[[], Any], done: Callable[[Any], bool], limit: float = 2.0) -> Any:
    """Ask until `done` holds or `limit` seconds have passed; returns the last answer.
    The limit only bounds the loop: a change reaches the runtime within 0.05 s in tests."""
    deadline = time.monotonic() + limit
    answer = ask()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask()
    return answer


def version(client: FlaskClient, admin: dict[str, str]) -> Any:
    return client.get("/v1/admin/policy", headers=admin).json["policy_version"]


def document(client: FlaskClient, admin: dict[str, str]) -> Any:
    return client.get("/v1/admin/policy", headers=admin).json["document"]


def last_event_id(session: Session) -> int:
    return session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()


def events_after(session: Session, event_id: int) -> list[AuditEvent]:
    """The events of the change itself. alice is the only admin here, so a guarded change applies
    at once and also leaves a `proposal.apply` event flagged single_person (see
    tests/governance/test_proposals.py); those are left out."""
    return list(session.execute(
        select(AuditEvent).where(AuditEvent.id > event_id, AuditEvent.action.not_like("proposal.%"))
        .order_by(AuditEvent.id)).scalars())


def one_event_after(session: Session, event_id: int) -> AuditEvent:
    [event] = events_after(session, event_id)
    return event


def tier_names(client: FlaskClient, admin: dict[str, str]) -> list[str]:
    return [t["name"] for t in client.get("/v1/admin/tiers", headers=admin).json["tiers"]]


def assert_refused(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.json
    if code is not None:
        assert response.json["code"] == code


# -- the whole policy ------------------------------------------------------------------------


def test_get_policy_shows_the_seeded_document_and_version(client, admin):
    response = client.get("/v1/admin/policy", headers=admin)

    assert response.status_code == 200
    assert response.json["policy_version"] == SEEDED_VERSION
    assert response.json["document"]["tiers"] == DEFAULT_TIERS
    assert response.json["document"]["capabilities"] == ["generate", "fine_tune", "tools"]
    assert "[matchers]" in response.json["model_conf"]


def test_put_policy_stores_a_new_version_with_an_audit_event(client, session, admin):
    new = document(client, admin)
    new["capabilities"].append("embed")
    before = last_event_id(session)

    response = client.put("/v1/admin/policy", headers=admin,
                          json={"document": new, "comment": "add embeddings"})

    assert response.status_code == 200
    assert response.json == {"policy_version": 2}
    shown = client.get("/v1/admin/policy", headers=admin).json
    assert shown["policy_version"] == 2
    assert shown["document"]["capabilities"] == ["generate", "fine_tune", "tools", "embed"]
    assert shown["comment"] == "add embeddings"
    assert shown["actor"] == ALICE
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "policy.change", "policy:2")


def test_put_policy_naming_an_unknown_tier_is_refused_whole(client, session, admin):
    new = document(client, admin)
    new["capabilities"].append("embed")
    new["grants"].append({"tier": "platinum", "target": "open", "capability": "embed"})
    before = last_event_id(session)

    response = client.put("/v1/admin/policy", headers=admin, json={"document": new})

    assert_refused(response, 422, "unknown_tier")
    assert version(client, admin) == SEEDED_VERSION
    assert "embed" not in document(client, admin)["capabilities"]
    assert events_after(session, before) == []


def test_put_policy_without_document_is_a_400(client, admin):
    response = client.put("/v1/admin/policy", headers=admin, json={"comment": "nothing"})

    assert_refused(response, 400, "missing_field")


# -- tiers -----------------------------------------------------------------------------------


def test_tier_created_below_another_takes_its_place_in_the_order(client, session, admin):
    before = last_event_id(session)

    response = client.post("/v1/admin/tiers", json={"name": "gold", "below": "trusted"}, headers=admin)

    assert response.status_code == 201
    assert response.json["policy_version"] == 2
    assert tier_names(client, admin) == ["free", "verified", "gold", "trusted", "internal"]
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "policy.change", "policy:2")


def test_tier_created_without_below_goes_on_top(client, admin):
    response = client.post("/v1/admin/tiers", json={"name": "board"}, headers=admin)

    assert response.status_code == 201
    assert tier_names(client, admin) == [*DEFAULT_TIERS, "board"]


def test_tiers_list_ranks_lowest_first(client, admin):
    response = client.get("/v1/admin/tiers", headers=admin)

    assert response.json["tiers"] == [
        {"name": "free", "rank": 0}, {"name": "verified", "rank": 1},
        {"name": "trusted", "rank": 2}, {"name": "internal", "rank": 3},
    ]


def test_duplicate_tier_is_refused(client, admin):
    response = client.post("/v1/admin/tiers", json={"name": "trusted"}, headers=admin)

    assert_refused(response, 409, "tier_exists")
    assert version(client, admin) == SEEDED_VERSION


def test_tier_below_an_unknown_tier_is_refused(client, admin):
    response = client.post("/v1/admin/tiers", json={"name": "gold", "below": "platinum"}, headers=admin)

    assert_refused(response, 404, "unknown_tier")
    assert version(client, admin) == SEEDED_VERSION


def test_unused_tier_can_be_deleted(client, session, admin):
    client.post("/v1/admin/tiers", json={"name": "gold", "below": "trusted"}, headers=admin)
    before = last_event_id(session)

    response = client.delete("/v1/admin/tiers/gold", headers=admin)

    assert response.status_code == 200
    assert response.json["policy_version"] == 3
    assert tier_names(client, admin) == DEFAULT_TIERS
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "policy.change", "policy:3")


def test_deleting_an_unknown_tier_is_a_404(client, admin):
    assert_refused(client.delete("/v1/admin/tiers/platinum", headers=admin), 404, "unknown_tier")


def test_deleting_a_tier_used_by_grants_is_refused_and_nothing_applied(client, session, admin):
    before = last_event_id(session)

    response = client.delete("/v1/admin/tiers/free", headers=admin)

    assert_refused(response, 422)
    assert version(client, admin) == SEEDED_VERSION
    assert tier_names(client, admin) == DEFAULT_TIERS
    assert events_after(session, before) == []


def test_deleting_a_tier_held_by_an_organisation_is_refused(client, session, admin):
    client.post("/v1/admin/tiers", json={"name": "gold", "below": "trusted"}, headers=admin)
    make_org(session, "acme", "gold")

    response = client.delete("/v1/admin/tiers/gold", headers=admin)

    assert_refused(response, 422, "tier_in_use")
    assert version(client, admin) == 2
    assert "gold" in tier_names(client, admin)


def test_deleting_a_tier_used_as_a_key_cap_is_refused(client, session, admin):
    client.post("/v1/admin/tiers", json={"name": "gold", "below": "trusted"}, headers=admin)
    make_key(session, "acme", tier="internal", tier_cap="gold")

    response = client.delete("/v1/admin/tiers/gold", headers=admin)

    assert_refused(response, 422, "tier_in_use")
    assert "gold" in tier_names(client, admin)


# -- capabilities ----------------------------------------------------------------------------


def test_capability_create_list_delete(client, session, admin):
    before = last_event_id(session)

    created = client.post("/v1/admin/capabilities", json={"name": "embed"}, headers=admin)
    assert created.status_code == 201
    assert created.json["policy_version"] == 2
    listed = client.get("/v1/admin/capabilities", headers=admin).json["capabilities"]
    assert listed == ["generate", "fine_tune", "tools", "embed"]

    deleted = client.delete("/v1/admin/capabilities/embed", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json["policy_version"] == 3
    listed = client.get("/v1/admin/capabilities", headers=admin).json["capabilities"]
    assert listed == ["generate", "fine_tune", "tools"]
    assert [(e.actor, e.action, e.target) for e in events_after(session, before)] == [
        (ALICE, "policy.change", "policy:2"), (ALICE, "policy.change", "policy:3")]


def test_duplicate_capability_is_refused(client, admin):
    assert_refused(client.post("/v1/admin/capabilities", json={"name": "tools"}, headers=admin),
                   409, "capability_exists")
    assert version(client, admin) == SEEDED_VERSION


def test_deleting_a_capability_used_by_grants_is_refused(client, admin):
    response = client.delete("/v1/admin/capabilities/generate", headers=admin)

    assert_refused(response, 422, "unknown_capability")
    assert version(client, admin) == SEEDED_VERSION
    assert "generate" in client.get("/v1/admin/capabilities", headers=admin).json["capabilities"]


def test_deleting_an_unknown_capability_is_a_404(client, admin):
    assert_refused(client.delete("/v1/admin/capabilities/teleport", headers=admin),
                   404, "unknown_capability")


def test_capability_with_an_invalid_name_is_refused(client, admin):
    response = client.post("/v1/admin/capabilities", json={"name": "has space"}, headers=admin)

    assert_refused(response, 422)
    assert version(client, admin) == SEEDED_VERSION


# -- model groups ----------------------------------------------------------------------------


def test_model_group_put_list_replace_delete(client, session, admin):
    before = last_event_id(session)

    put = client.put("/v1/admin/model-groups/labs", json={"models": ["lab-1", "lab-2"]}, headers=admin)
    assert put.status_code == 200
    assert put.json["policy_version"] == 2
    groups = client.get("/v1/admin/model-groups", headers=admin).json["model_groups"]
    assert groups["labs"] == ["lab-1", "lab-2"]

    replaced = client.put("/v1/admin/model-groups/labs", json={"models": ["lab-3"]}, headers=admin)
    assert replaced.json["policy_version"] == 3
    assert client.get("/v1/admin/model-groups", headers=admin).json["model_groups"]["labs"] == ["lab-3"]

    deleted = client.delete("/v1/admin/model-groups/labs", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json["policy_version"] == 4
    assert "labs" not in client.get("/v1/admin/model-groups", headers=admin).json["model_groups"]
    assert [(e.actor, e.action) for e in events_after(session, before)] == [
        (ALICE, "policy.change")] * 3


def test_model_in_two_groups_is_refused(client, session, admin):
    add_models(session)

    response = client.put("/v1/admin/model-groups/labs", json={"models": ["chat-standard"]},
                          headers=admin)

    assert_refused(response, 422)
    assert version(client, admin) == 2


def test_model_group_needs_a_models_list(client, admin):
    response = client.put("/v1/admin/model-groups/labs", json={"models": "lab-1"}, headers=admin)

    assert_refused(response, 400, "invalid_field")


def test_deleting_a_model_group_used_by_grants_is_refused(client, admin):
    response = client.delete("/v1/admin/model-groups/open", headers=admin)

    assert_refused(response, 422, "unknown_model_group")
    assert version(client, admin) == SEEDED_VERSION


def test_deleting_an_unknown_model_group_is_a_404(client, admin):
    assert_refused(client.delete("/v1/admin/model-groups/nothing", headers=admin),
                   404, "unknown_model_group")


# -- grants ----------------------------------------------------------------------------------


def test_grant_create_returns_its_id_and_delete_removes_it(client, session, admin):
    before = last_event_id(session)

    created = client.post("/v1/admin/grants", headers=admin,
                          json={"tier": "free", "target": "standard", "capability": "tools"})
    assert created.status_code == 201
    assert created.json == {"id": "allow:free:standard:tools", "policy_version": 2}
    grants = client.get("/v1/admin/grants", headers=admin).json["grants"]
    assert {"id": "allow:free:standard:tools", "tier": "free", "target": "standard",
            "capability": "tools", "effect": "allow"} in grants

    deleted = client.delete("/v1/admin/grants/allow:free:standard:tools", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json["policy_version"] == 3
    ids = [g["id"] for g in client.get("/v1/admin/grants", headers=admin).json["grants"]]
    assert "allow:free:standard:tools" not in ids
    assert [(e.actor, e.action) for e in events_after(session, before)] == [
        (ALICE, "policy.change")] * 2


def test_deny_grant_is_created_with_its_effect(client, admin):
    created = client.post("/v1/admin/grants", headers=admin,
                          json={"tier": "*", "target": "frontier", "capability": "fine_tune",
                                "effect": "deny"})

    assert created.status_code == 201
    assert created.json["id"] == "deny:*:frontier:fine_tune"


def test_seeded_grants_are_listed_with_ids(client, admin):
    grants = client.get("/v1/admin/grants", headers=admin).json["grants"]

    assert len(grants) == 10
    assert grants[0] == {"id": "allow:free:open:generate", "tier": "free", "target": "open",
                         "capability": "generate", "effect": "allow"}


@pytest.mark.parametrize(("grant", "code"), [
    ({"tier": "platinum", "target": "open", "capability": "generate"}, "unknown_tier"),
    ({"tier": "free", "target": "open", "capability": "teleport"}, "unknown_capability"),
    ({"tier": "free", "target": "nowhere", "capability": "generate"}, "unknown_model_group"),
])
def test_grant_naming_something_unknown_is_refused_and_version_unchanged(client, session, admin,
                                                                        grant, code):
    before = last_event_id(session)

    response = client.post("/v1/admin/grants", json=grant, headers=admin)

    assert_refused(response, 422, code)
    assert version(client, admin) == SEEDED_VERSION
    assert len(client.get("/v1/admin/grants", headers=admin).json["grants"]) == 10
    assert events_after(session, before) == []


def test_duplicate_grant_is_refused(client, admin):
    response = client.post("/v1/admin/grants", headers=admin,
                           json={"tier": "free", "target": "open", "capability": "generate"})

    assert_refused(response, 409, "grant_exists")
    assert version(client, admin) == SEEDED_VERSION


def test_deleting_an_unknown_grant_is_a_404(client, admin):
    assert_refused(client.delete("/v1/admin/grants/allow:free:open:tools", headers=admin),
                   404, "grant_not_found")


def test_grant_missing_a_field_is_a_400(client, admin):
    response = client.post("/v1/admin/grants", json={"tier": "free", "target": "open"}, headers=admin)

    assert_refused(response, 400, "missing_field")


# -- blocked models --------------------------------------------------------------------------


def test_model_can_be_blocked_and_unblocked(client, session, admin):
    add_models(session)
    before = last_event_id(session)

    blocked = client.put("/v1/admin/blocked-models/chat-standard", headers=admin)
    assert blocked.status_code == 200
    assert blocked.json["policy_version"] == 3
    assert document(client, admin)["blocked_models"] == ["chat-standard"]

    unblocked = client.delete("/v1/admin/blocked-models/chat-standard", headers=admin)
    assert unblocked.status_code == 200
    assert unblocked.json["policy_version"] == 4
    assert document(client, admin)["blocked_models"] == []
    assert [(e.actor, e.action) for e in events_after(session, before)] == [
        (ALICE, "policy.change")] * 2


def test_blocking_an_unknown_model_is_refused(client, admin):
    response = client.put("/v1/admin/blocked-models/no-such-model", headers=admin)

    assert_refused(response, 422, "unknown_model")
    assert version(client, admin) == SEEDED_VERSION


def test_unblocking_a_model_that_is_not_blocked_is_a_404(client, session, admin):
    add_models(session)

    assert_refused(client.delete("/v1/admin/blocked-models/chat-standard", headers=admin),
                   404, "not_blocked")


# -- organisations ---------------------------------------------------------------------------


def test_organisation_create_read_update_delete(client, session, admin):
    before = last_event_id(session)

    created = client.post("/v1/admin/organisations", json={"name": "globex", "tier": "trusted"},
                          headers=admin)
    assert created.status_code == 201
    org = created.json
    assert (org["name"], org["tier"], org["suspended"]) == ("globex", "trusted", False)

    shown = client.get(f"/v1/admin/organisations/{org['id']}", headers=admin)
    assert shown.status_code == 200
    assert shown.json == org
    listed = client.get("/v1/admin/organisations", headers=admin).json["organisations"]
    assert [o["name"] for o in listed] == ["globex"]

    updated = client.patch(f"/v1/admin/organisations/{org['id']}", headers=admin,
                           json={"name": "globex-corp", "tier": "internal", "suspended": True})
    assert updated.status_code == 200
    assert (updated.json["name"], updated.json["tier"], updated.json["suspended"]) == (
        "globex-corp", "internal", True)

    deleted = client.delete(f"/v1/admin/organisations/{org['id']}", headers=admin)
    assert deleted.status_code == 204
    assert_refused(client.get(f"/v1/admin/organisations/{org['id']}", headers=admin),
                   404, "org_not_found")

    target = f"org:{org['id']}"
    assert [(e.actor, e.action, e.target) for e in events_after(session, before)] == [
        (ALICE, "org.create", target), (ALICE, "org.update", target), (ALICE, "org.delete", target)]
    assert version(client, admin) == SEEDED_VERSION  # organisations are not policy


def test_duplicate_organisation_name_is_a_409(client, session, admin):
    make_org(session, "acme")
    before = last_event_id(session)

    response = client.post("/v1/admin/organisations", json={"name": "acme", "tier": "free"},
                           headers=admin)

    assert_refused(response, 409, "org_exists")
    listed = client.get("/v1/admin/organisations", headers=admin).json["organisations"]
    assert [(o["name"], o["tier"]) for o in listed] == [("acme", "verified")]
    assert events_after(session, before) == []


def test_renaming_an_organisation_onto_another_name_is_a_409(client, session, admin):
    make_org(session, "acme")
    other = make_org(session, "globex")

    response = client.patch(f"/v1/admin/organisations/{other}", json={"name": "acme"}, headers=admin)

    assert_refused(response, 409, "org_exists")
    assert client.get(f"/v1/admin/organisations/{other}", headers=admin).json["name"] == "globex"


@pytest.mark.parametrize(("method", "body"), [("get", None), ("patch", {"tier": "free"}),
                                              ("delete", None)])
def test_unknown_organisation_is_a_404(client, admin, method, body):
    response = getattr(client, method)("/v1/admin/organisations/4242", json=body, headers=admin)

    assert_refused(response, 404, "org_not_found")


def test_organisation_id_past_the_integer_range_is_a_404(client, admin):
    response = client.get("/v1/admin/organisations/99999999999999999999999", headers=admin)

    assert response.status_code == 404


def test_organisation_with_an_unknown_tier_is_refused(client, admin):
    response = client.post("/v1/admin/organisations", json={"name": "globex", "tier": "platinum"},
                           headers=admin)

    assert_refused(response, 400, "unknown_tier")
    assert client.get("/v1/admin/organisations", headers=admin).json["organisations"] == []


def test_organisation_holding_keys_cannot_be_deleted(client, session, admin):
    make_key(session, "acme", tier="verified")
    [org] = client.get("/v1/admin/organisations", headers=admin).json["organisations"]

    response = client.delete(f"/v1/admin/organisations/{org['id']}", headers=admin)

    assert_refused(response, 409, "org_has_keys")
    assert client.get(f"/v1/admin/organisations/{org['id']}", headers=admin).status_code == 200


def test_suspended_must_be_a_boolean(client, session, admin):
    org = make_org(session, "acme")

    response = client.patch(f"/v1/admin/organisations/{org}", json={"suspended": "yes"}, headers=admin)

    assert_refused(response, 400, "invalid_field")


# -- keys ------------------------------------------------------------------------------------

PREFIX = re.compile(r"^gvk_[0-9a-f]{12}$")


def issue(client: FlaskClient, admin: dict[str, str], **body: Any) -> Any:
    response = client.post("/v1/admin/keys", json={"organisation": "acme", **body}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json


def test_issued_key_is_shown_once_and_never_again(client, session, admin):
    make_org(session, "acme")
    before = last_event_id(session)

    issued = issue(client, admin, name="ci")

    secret = issued["key"]
    prefix = issued["prefix"]
    assert PREFIX.match(prefix)
    assert secret.startswith(prefix + "_")
    assert (issued["kind"], issued["name"], issued["organisation"], issued["status"]) == (
        "client", "ci", "acme", "active")
    shown = client.get(f"/v1/admin/keys/{prefix}", headers=admin)
    assert shown.status_code == 200
    assert "key" not in shown.json
    assert shown.json["prefix"] == prefix
    listed = client.get("/v1/admin/keys", headers=admin)
    assert prefix in [k["prefix"] for k in listed.json["keys"]]
    assert secret.encode() not in shown.data
    assert secret.encode() not in listed.data
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "key.issue", f"key:{prefix}")
    assert secret[17:] not in json.dumps([event.before, event.after])


def test_key_can_be_issued_for_an_organisation_by_id(client, session, admin):
    org = make_org(session, "acme")

    response = client.post("/v1/admin/keys", json={"organisation": org}, headers=admin)

    assert response.status_code == 201
    assert response.json["organisation"] == "acme"


def test_key_list_filters_by_organisation(client, session, admin):
    make_org(session, "acme")
    make_org(session, "globex")
    mine = issue(client, admin)["prefix"]
    client.post("/v1/admin/keys", json={"organisation": "globex"}, headers=admin)

    listed = client.get("/v1/admin/keys?organisation=acme", headers=admin).json["keys"]

    assert [k["prefix"] for k in listed] == [mine]


def test_key_for_an_unknown_organisation_is_a_404(client, admin):
    response = client.post("/v1/admin/keys", json={"organisation": "nobody"}, headers=admin)

    assert_refused(response, 404, "org_not_found")


def test_key_with_an_expiry_in_the_past_is_refused(client, session, admin):
    make_org(session, "acme")

    response = client.post("/v1/admin/keys", headers=admin,
                           json={"organisation": "acme", "expires_at": "2001-01-01T00:00:00Z"})

    assert_refused(response, 400, "invalid_time")
    assert client.get("/v1/admin/keys?organisation=acme", headers=admin).json["keys"] == []


def test_key_with_an_unreadable_expiry_is_a_400(client, session, admin):
    make_org(session, "acme")

    response = client.post("/v1/admin/keys", headers=admin,
                           json={"organisation": "acme", "expires_at": "next tuesday"})

    assert_refused(response, 400, "invalid_field")


def test_key_update_changes_name_cap_and_suspension(client, session, admin):
    make_org(session, "acme", "trusted")
    prefix = issue(client, admin)["prefix"]
    before = last_event_id(session)

    updated = client.patch(f"/v1/admin/keys/{prefix}", headers=admin,
                           json={"name": "renamed", "tier_cap": "free", "suspended": True,
                                 "expires_at": "2999-01-01T00:00:00Z"})

    assert updated.status_code == 200
    assert (updated.json["name"], updated.json["tier_cap"], updated.json["suspended"],
            updated.json["status"]) == ("renamed", "free", True, "suspended")
    assert updated.json["expires_at"].startswith("2999-01-01T00:00:00")
    cleared = client.patch(f"/v1/admin/keys/{prefix}", json={"tier_cap": None, "suspended": False},
                           headers=admin)
    assert (cleared.json["tier_cap"], cleared.json["status"]) == (None, "active")
    assert [(e.actor, e.action, e.target) for e in events_after(session, before)] == [
        (ALICE, "key.update", f"key:{prefix}")] * 2
    assert version(client, admin) == SEEDED_VERSION  # keys are not policy


def test_key_cap_must_be_a_known_tier(client, session, admin):
    make_org(session, "acme")
    prefix = issue(client, admin)["prefix"]

    response = client.patch(f"/v1/admin/keys/{prefix}", json={"tier_cap": "platinum"}, headers=admin)

    assert_refused(response, 400, "unknown_tier")
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["tier_cap"] is None


def test_key_revoke_marks_it_revoked_and_is_audited(client, session, admin):
    make_org(session, "acme")
    prefix = issue(client, admin)["prefix"]
    before = last_event_id(session)

    response = client.post(f"/v1/admin/keys/{prefix}/revoke", headers=admin)

    assert response.status_code == 200
    assert response.json["status"] == "revoked"
    assert response.json["revoked_at"] is not None
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["status"] == "revoked"
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "key.revoke", f"key:{prefix}")


def test_key_delete_revokes_it(client, session, admin):
    make_org(session, "acme")
    prefix = issue(client, admin)["prefix"]
    before = last_event_id(session)

    response = client.delete(f"/v1/admin/keys/{prefix}", headers=admin)

    assert response.status_code == 200
    assert response.json["status"] == "revoked"
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["status"] == "revoked"
    event = one_event_after(session, before)
    assert (event.actor, event.action, event.target) == (ALICE, "key.revoke", f"key:{prefix}")


def test_revoked_key_cannot_be_updated_or_rotated(client, session, admin):
    make_org(session, "acme")
    prefix = issue(client, admin)["prefix"]
    client.post(f"/v1/admin/keys/{prefix}/revoke", headers=admin)

    assert_refused(client.patch(f"/v1/admin/keys/{prefix}", json={"suspended": False}, headers=admin),
                   409, "key_revoked")
    assert_refused(client.post(f"/v1/admin/keys/{prefix}/rotate", json={}, headers=admin),
                   409, "key_not_active")


def test_key_rotation_issues_a_successor_and_keeps_the_old_key_for_the_overlap(client, session, admin):
    make_org(session, "acme")
    old = issue(client, admin, name="ci")
    before = last_event_id(session)

    rotated = client.post(f"/v1/admin/keys/{old['prefix']}/rotate", json={"overlap_seconds": 3600},
                          headers=admin)

    assert rotated.status_code == 201
    new = rotated.json
    assert new["key"] != old["key"]
    assert new["key"].startswith(new["prefix"] + "_")
    assert (new["rotated_from"], new["name"], new["organisation"]) == (old["prefix"], "ci", "acme")
    previous = client.get(f"/v1/admin/keys/{old['prefix']}", headers=admin).json
    assert previous["status"] == "active"
    assert previous["expires_at"] is not None
    actions = [(e.actor, e.action, e.target) for e in events_after(session, before)]
    assert actions == [(ALICE, "key.issue", f"key:{new['prefix']}"),
                       (ALICE, "key.rotate", f"key:{old['prefix']}")]


def test_key_rotation_without_overlap_expires_the_old_key_at_once(client, session, admin):
    make_org(session, "acme")
    old = issue(client, admin)

    rotated = client.post(f"/v1/admin/keys/{old['prefix']}/rotate", json={"overlap_seconds": 0},
                          headers=admin)

    assert rotated.status_code == 201
    assert client.get(f"/v1/admin/keys/{old['prefix']}", headers=admin).json["status"] == "expired"


def test_rotation_overlap_past_the_calendar_is_a_400(client, session, admin):
    make_org(session, "acme")
    old = issue(client, admin)

    response = client.post(f"/v1/admin/keys/{old['prefix']}/rotate",
                           json={"overlap_seconds": 10**12}, headers=admin)

    assert_refused(response, 400, "invalid_field")
    assert client.get(f"/v1/admin/keys/{old['prefix']}", headers=admin).json["status"] == "active"


def test_expiry_whose_utc_time_is_past_the_calendar_is_a_400(client, session, admin):
    make_org(session, "acme")

    response = client.post("/v1/admin/keys", headers=admin,
                           json={"organisation": "acme", "expires_at": "9999-12-31T23:00:00-05:00"})

    assert_refused(response, 400, "invalid_field")


def test_expiry_with_an_offset_is_kept_as_the_same_instant(client, session, admin):
    make_org(session, "acme")

    issued = issue(client, admin, expires_at="2999-01-01T02:00:00+02:00")

    assert datetime.fromisoformat(issued["expires_at"]) == datetime(2999, 1, 1, tzinfo=UTC)


def test_unknown_key_prefix_is_a_404(client, admin):
    for response in (client.get("/v1/admin/keys/gvk_000000000000", headers=admin),
                     client.patch("/v1/admin/keys/gvk_000000000000", json={"name": "x"}, headers=admin),
                     client.post("/v1/admin/keys/gvk_000000000000/revoke", headers=admin)):
        assert_refused(response, 404, "key_not_found")


# -- who may call the admin API --------------------------------------------------------------


def test_admin_api_without_a_key_is_a_401(client):
    response = client.get("/v1/admin/policy")

    assert_refused(response, 401, "key_missing")
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_admin_api_with_an_unknown_key_is_a_401(client):
    response = client.get("/v1/admin/policy", headers=bearer("gvk_000000000000_" + "A" * 43))

    assert_refused(response, 401, "key_unknown")
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_admin_api_with_a_client_key_is_a_401_wrong_kind(client, session, admin):
    key = make_key(session, "acme", tier="internal")

    response = client.post("/v1/admin/tiers", json={"name": "gold"}, headers=bearer(key))

    assert_refused(response, 401, "key_wrong_kind")
    assert response.json["message"] == "this endpoint needs an admin key; the key sent is a client key (401)"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert tier_names(client, admin) == DEFAULT_TIERS


def test_admin_api_with_a_revoked_admin_key_is_a_401_after_propagation(client, admin):
    prefix = admin["Authorization"].removeprefix("Bearer ")[:16]
    assert client.post(f"/v1/admin/keys/{prefix}/revoke", headers=admin).status_code == 200

    response = poll(lambda: client.get("/v1/admin/policy", headers=admin),
                    lambda r: r.status_code != 200)

    assert_refused(response, 401, "key_revoked")


def test_auditor_can_read_every_admin_list(client, auditor):
    for path in ("/v1/admin/policy", "/v1/admin/tiers", "/v1/admin/capabilities",
                 "/v1/admin/model-groups", "/v1/admin/grants", "/v1/admin/organisations",
                 "/v1/admin/keys"):
        assert client.get(path, headers=auditor).status_code == 200, path


# Posted to, but only asking a question: the playground changes nothing, and auditors may ask.
QUESTIONS = {("POST", "/v1/admin/playground")}


def _mutating_admin_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every mutating route under /v1/admin, with sample path values."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/admin"):
            continue
        path = re.sub(r"<int(?:\([^)]*\))?:\w+>", "1", rule.rule)
        path = re.sub(r"<(?:[^:>]+:)?\w+>", "sample", path)
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            if (method, path) not in QUESTIONS:
                routes.append((method, path))
    return routes


def test_auditor_gets_403_on_every_mutating_admin_route(app, client, session, auditor, admin):
    routes = _mutating_admin_routes(app)
    # The iteration must cover at least the routes this suite knows about.
    assert {("POST", "/v1/admin/tiers"), ("DELETE", "/v1/admin/tiers/sample"),
            ("PUT", "/v1/admin/policy"), ("POST", "/v1/admin/grants"),
            ("DELETE", "/v1/admin/grants/sample"), ("PUT", "/v1/admin/model-groups/sample"),
            ("PUT", "/v1/admin/blocked-models/sample"), ("POST", "/v1/admin/organisations"),
            ("PATCH", "/v1/admin/organisations/1"), ("DELETE", "/v1/admin/organisations/1"),
            ("POST", "/v1/admin/keys"), ("PATCH", "/v1/admin/keys/sample"),
            ("DELETE", "/v1/admin/keys/sample"), ("POST", "/v1/admin/keys/sample/revoke"),
            ("POST", "/v1/admin/keys/sample/rotate")} <= set(routes)
    before = last_event_id(session)

    for method, path in routes:
        response = client.open(path, method=method, json={"name": "x"}, headers=auditor)
        assert response.status_code == 403, (method, path)
        assert response.json["code"] == "role_required", (method, path)

    assert events_after(session, before) == []
    assert version(client, admin) == SEEDED_VERSION


def test_user_without_roles_cannot_read_the_admin_api(client, session):
    key = make_user_key(session, "nobody", frozenset())

    assert_refused(client.get("/v1/admin/policy", headers=bearer(key)), 403, "role_required")
