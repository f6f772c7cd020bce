"""The two-person rule: a change that can widen access or grant governance power is a proposal until
a second admin approves it; the proposer cannot approve; every decision is audited; a single admin's
guarded changes apply alone and are flagged, except governance-role grants, which only the host
operator (CLI, flagged break_glass) or a second admin can make."""

from __future__ import annotations

import getpass
from typing import Any

import pytest
from factories import ACTOR, add_models, casbin_model, make_key, make_org, make_user_key, sha256_hex
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from ui import csrf_token, sign_in

from govern.identity.issuers import create_issuer, get_issuer
from govern.models import AuditEvent, Proposal

ALICE, BOB = "user:alice", "user:bob"
ISSUER = {"name": "corp", "issuer": "https://idp.corp.example", "audiences": ["govern"],
          "default_tier": "free", "rules": []}
# An issuer the admin controls, whose groups would sign in as reviewers and approvers.
MAPPING = {**ISSUER, "sso": {"client_id": "govern-ui", "client_secret_env": "GOVERN_SSO_CORP_SECRET",
                             "roles": {"duty-people": ["reviewer", "approver"]}}}
ALLOW_ALL = casbin_model("r.sub == r.sub")  # parses, and makes every caller allowed


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def last_event_id(session: Session) -> int:
    return session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()


def events_after(session: Session, event_id: int) -> list[tuple[str, str, str]]:
    session.expire_all()
    rows = session.execute(select(AuditEvent).where(AuditEvent.id > event_id)
                           .order_by(AuditEvent.id)).scalars()
    return [(e.actor, e.action, e.target) for e in rows]


def event(session: Session, action: str) -> AuditEvent:
    session.expire_all()
    return session.execute(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.id.desc()).limit(1)).scalar_one()


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """A careless host operator has allowed the allow-all model: it is still only one admin's
    proposal (a model the operator has not allowed is refused outright: test_policy_model_api)."""
    return {**env, "GOVERN_ALLOWED_MODEL_SHA256": sha256_hex(ALLOW_ALL)}


@pytest.fixture
def issuer(session: Session) -> None:
    create_issuer(session, ISSUER, actor=ACTOR)


@pytest.fixture
def bob(session: Session) -> dict[str, str]:
    """A second admin: from now on guarded changes wait for approval."""
    return bearer(make_user_key(session, "bob", frozenset({"admin"})))


def sso_of(session: Session) -> Any:
    session.expire_all()
    return get_issuer(session, "corp").sso


# -- one admin alone -----------------------------------------------------------------------------
@pytest.mark.usefixtures("issuer")
def test_one_admin_alone_cannot_map_an_issuer_group_to_governance_roles(client, session, admin):
    before = last_event_id(session)

    refused = [client.put("/v1/admin/issuers/corp", headers=admin, json=MAPPING),
               client.put("/v1/admin/issuers", headers=admin, json={"issuers": [MAPPING]}),
               client.post("/v1/admin/issuers", headers=admin,
                           json={**MAPPING, "name": "corp2", "issuer": "https://idp2.corp.example"})]

    for response in refused:
        assert response.status_code == 403, response.json
        assert response.json["code"] == "second_person_required"
        assert "host operator" in response.json["message"]
        assert "govern command on the server" in response.json["message"]
    assert sso_of(session) is None
    assert events_after(session, before) == []
    assert session.execute(select(func.count()).select_from(Proposal)).scalar_one() == 0


def test_one_admin_alone_applies_other_guarded_changes_flagged_single_person(client, session, admin):
    org = make_org(session, "acme", "verified")
    before = last_event_id(session)

    response = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "trusted"})

    assert response.status_code == 200
    assert response.json["tier"] == "trusted"
    assert events_after(session, before) == [(ALICE, "proposal.apply", "proposal:1"),
                                             (ALICE, "org.update", f"org:{org}")]
    flagged = event(session, "proposal.apply")
    assert flagged.after["single_person"] is True
    assert flagged.after["break_glass"] is False
    assert flagged.after["diff"] == [{"path": "tier", "before": "verified", "after": "trusted"}]
    listed = client.get("/v1/admin/proposals", headers=admin).json
    assert listed["single_admin"] is True
    assert listed["proposals"][0]["state"] == "applied"
    assert listed["proposals"][0]["route"] == "single_person"


def test_the_dashboard_says_when_one_admin_acts_alone(client, session, ui_login):
    ui_login(client, "aud", frozenset({"auditor"}))  # alice is the one admin

    alone = client.get("/dashboard").get_data(as_text=True)
    make_user_key(session, "bob", frozenset({"admin"}))
    two = client.get("/dashboard").get_data(as_text=True)

    assert "Single admin: govern has only one admin" in alone
    assert "marked <code>single_person</code> in the audit trail" in alone
    assert "Single admin" not in two


# -- two admins ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("issuer")
def test_an_issuer_role_mapping_is_only_a_proposal_until_a_second_admin_approves(
        client, session, admin, bob):
    before = last_event_id(session)

    proposed = client.put("/v1/admin/issuers/corp", headers=admin, json=MAPPING)

    assert proposed.status_code == 202, proposed.json
    body = proposed.json
    assert (body["kind"], body["target"], body["state"], body["proposer"]) == (
        "issuer.set", "issuer:corp", "pending", ALICE)
    assert {"path": "sso.roles.duty-people", "before": None,
            "after": ["reviewer", "approver"]} in body["diff"]
    assert sso_of(session) is None  # nothing applied
    assert events_after(session, before) == [(ALICE, "proposal.create", f"proposal:{body['id']}")]

    own = client.post(f"/v1/admin/proposals/{body['id']}/approve", headers=admin)
    assert own.status_code == 403
    assert own.json["code"] == "own_proposal"
    assert sso_of(session) is None

    approved = client.post(f"/v1/admin/proposals/{body['id']}/approve", headers=bob,
                           json={"reason": "checked with the identity team"})

    assert approved.status_code == 200, approved.json
    assert (approved.json["state"], approved.json["route"], approved.json["decided_by"]) == (
        "applied", "two_person", BOB)
    assert sso_of(session).roles == (("duty-people", ("reviewer", "approver")),)
    assert events_after(session, before)[1:] == [(BOB, "proposal.approve", f"proposal:{body['id']}"),
                                                 (BOB, "issuer.update", "issuer:corp")]
    trail = event(session, "proposal.approve")
    assert (trail.after["proposer"], trail.after["approved_by"], trail.after["reason"]) == (
        ALICE, BOB, "checked with the identity team")
    again = client.post(f"/v1/admin/proposals/{body['id']}/approve", headers=bob)
    assert again.status_code == 409
    assert again.json["code"] == "proposal_decided"


def test_an_allowed_allow_all_casbin_model_is_only_a_proposal(client, session, admin, bob):
    key = make_key(session, "acme", tier="free")
    shown = client.get("/v1/admin/policy", headers=admin).json

    response = client.put("/v1/admin/policy", headers=admin,
                          json={"document": shown["document"], "model_conf": ALLOW_ALL})

    assert response.status_code == 202, response.json
    assert response.json["kind"] == "policy.replace"
    [change] = [d for d in response.json["diff"] if d["path"] == "model_conf"]
    assert "m = r.sub == r.sub" in change["after"]
    assert client.get("/v1/admin/policy", headers=admin).json["policy_version"] == shown["policy_version"]
    denied = client.post("/v1/check", headers=bearer(key),
                         json={"model": "research-preview", "capability": "fine_tune"})
    assert denied.json["allow"] is False


def test_every_policy_edit_of_the_admin_api_is_a_proposal_except_a_block(client, session, admin, bob):
    add_models(session)
    version = client.get("/v1/admin/policy", headers=admin).json["policy_version"]

    edits = [client.post("/v1/admin/grants", headers=admin,
                         json={"tier": "free", "target": "research", "capability": "fine_tune"}),
             client.post("/v1/admin/tiers", headers=admin, json={"name": "gold"}),
             client.put("/v1/admin/model-groups/open", headers=admin,
                        json={"models": ["open-7b", "open-8b"]}),
             client.post("/v1/admin/capabilities", headers=admin, json={"name": "embed"})]
    blocked = client.put("/v1/admin/blocked-models/frontier-1", headers=admin)

    assert [r.status_code for r in edits] == [202, 202, 202, 202]
    assert blocked.status_code == 200  # blocking a model only narrows access
    assert client.get("/v1/admin/policy", headers=admin).json["policy_version"] == version + 1


def test_rejecting_and_withdrawing_are_audited_and_final(client, session, admin, bob):
    org = make_org(session, "acme", "free")
    first = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "internal"}).json

    withdrawn_by_other = client.post(f"/v1/admin/proposals/{first['id']}/withdraw", headers=bob)
    rejected = client.post(f"/v1/admin/proposals/{first['id']}/reject", headers=bob,
                           json={"reason": "no business case"})
    late = client.post(f"/v1/admin/proposals/{first['id']}/approve", headers=bob)

    assert withdrawn_by_other.status_code == 403
    assert withdrawn_by_other.json["code"] == "not_proposer"
    assert (rejected.status_code, rejected.json["state"], rejected.json["reason"]) == (
        200, "rejected", "no business case")
    assert late.status_code == 409
    assert event(session, "proposal.reject").actor == BOB
    assert event(session, "proposal.reject").after["reason"] == "no business case"

    second = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "trusted"}).json
    withdrawn = client.post(f"/v1/admin/proposals/{second['id']}/withdraw", headers=admin)

    assert withdrawn.json["state"] == "withdrawn"
    assert event(session, "proposal.withdraw").actor == ALICE
    assert client.get(f"/v1/admin/organisations/{org}", headers=admin).json["tier"] == "free"


def test_a_proposal_whose_target_changed_since_is_refused_on_approval(client, session, admin, bob):
    org = make_org(session, "acme", "verified")
    proposed = client.patch(f"/v1/admin/organisations/{org}", headers=admin,
                            json={"tier": "internal"}).json
    lowered = client.patch(f"/v1/admin/organisations/{org}", headers=bob, json={"tier": "free"})
    assert lowered.status_code == 200  # lowering a tier is not guarded

    stale = client.post(f"/v1/admin/proposals/{proposed['id']}/approve", headers=bob)

    assert stale.status_code == 409
    assert stale.json["code"] == "stale_proposal"
    assert "has changed since proposal" in stale.json["message"]
    assert client.get(f"/v1/admin/organisations/{org}", headers=admin).json["tier"] == "free"


def test_raising_a_key_cap_or_making_an_enforcement_point_key_waits_for_approval(
        client, session, admin, bob):
    key = make_key(session, "acme", tier="trusted", tier_cap="free")
    prefix = client.get("/v1/admin/keys?organisation=acme", headers=admin).json["keys"][0]["prefix"]

    raised = client.patch(f"/v1/admin/keys/{prefix}", headers=admin, json={"tier_cap": "verified"})
    lifted = client.patch(f"/v1/admin/keys/{prefix}", headers=admin, json={"tier_cap": None})
    renamed = client.patch(f"/v1/admin/keys/{prefix}", headers=admin, json={"name": "renamed"})
    pep = client.post("/v1/admin/keys", headers=admin, json={"kind": "pep", "name": "edge"})

    assert [raised.status_code, lifted.status_code, renamed.status_code, pep.status_code] == [
        202, 202, 200, 202]
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["tier_cap"] == "free"
    assert "key" not in pep.json

    approved = client.post(f"/v1/admin/proposals/{pep.json['id']}/approve", headers=bob)

    secret = approved.json["result"]["key"]
    assert approved.json["result"]["kind"] == "pep"
    session.expire_all()
    stored = session.execute(select(AuditEvent.after)).scalars().all()
    assert secret not in str(stored) and key not in str(stored)
    assert secret not in str(client.get("/v1/admin/proposals", headers=admin).json)


def test_an_auditor_sees_proposals_but_cannot_decide(client, session, admin, bob, auditor):
    org = make_org(session, "acme", "free")
    proposed = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "trusted"}).json

    listed = client.get("/v1/admin/proposals?state=pending", headers=auditor)
    approve = client.post(f"/v1/admin/proposals/{proposed['id']}/approve", headers=auditor)

    assert [p["id"] for p in listed.json["proposals"]] == [proposed["id"]]
    assert approve.status_code == 403


# -- the host operator -----------------------------------------------------------------------------
def test_the_host_cli_applies_at_once_flagged_break_glass_with_the_os_user(govern, session, bob):
    make_org(session, "acme", "free")
    host = f"host:{getpass.getuser()}"

    raised = govern("orgs", "update", "acme", "--tier", "internal")
    granted = govern("users", "create", "rita", "--role", "reviewer")

    assert raised.exit_code == 0, raised.output
    assert granted.exit_code == 0, granted.output
    session.expire_all()
    flagged = session.execute(select(AuditEvent).where(AuditEvent.action == "proposal.apply")
                              .order_by(AuditEvent.id)).scalars().all()
    assert [(e.actor, e.after["kind"], e.after["break_glass"]) for e in flagged] == [
        (host, "org.tier", True), (host, "user.create", True)]
    assert event(session, "org.update").actor == host
    assert event(session, "user.create").after["roles"] == ["reviewer"]


def test_the_proposer_cannot_approve_through_the_admin_ui_either(app, client, session, admin, bob):
    org = make_org(session, "acme", "free")
    proposed = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "trusted"}).json
    browser = app.test_client()
    assert sign_in(browser, "alice").status_code == 302  # alice's own password (factories)
    token = csrf_token(browser, "/proposals")

    forged = browser.post(f"/proposals/{proposed['id']}/approve", data={"csrf_token": token})

    assert forged.status_code == 403
    assert "a second admin must approve it" in forged.get_data(as_text=True)
    assert client.get(f"/v1/admin/organisations/{org}", headers=admin).json["tier"] == "free"


def test_a_second_account_of_the_proposer_is_not_a_second_admin(client, session, admin, issuer):  # type: ignore[no-untyped-def]
    """Two admin accounts of one person are one admin: neither approves the other's proposal, and a
    governance grant is refused as if there were a single admin."""
    from govern.identity.people import link_account
    from govern.identity.users import find_user

    alias = bearer(make_user_key(session, "alice-2", frozenset({"admin"})))
    alice, second = find_user(session, "alice"), find_user(session, "alice-2")
    assert alice is not None and second is not None
    link_account(session, actor=ACTOR, user_id=second.id, person_id=alice.person_id)

    refused = client.put("/v1/admin/issuers/corp", json=MAPPING, headers=admin)
    assert (refused.status_code, refused.json["code"]) == (403, "second_person_required")

    make_user_key(session, "bob", frozenset({"admin"}))
    proposed = client.put("/v1/admin/issuers/corp", json=MAPPING, headers=admin)
    assert proposed.status_code == 202
    own = client.post(f"/v1/admin/proposals/{proposed.json['id']}/approve", headers=alias)
    assert (own.status_code, own.json["code"]) == (403, "own_proposal")
    assert get_issuer(session, "corp").sso is None


def test_disabling_the_second_admin_does_not_let_the_first_act_alone(client, session, admin, bob):  # type: ignore[no-untyped-def]
    """Offboarding applies at once, but a disabled admin still counts: the remaining admin's guarded
    changes wait (for another admin, or the host operator) instead of applying single-person."""
    from govern.identity.users import find_user

    org = make_org(session, "acme", "free")
    bob_person = find_user(session, "bob").person_id  # type: ignore[union-attr]
    disabled = client.post(f"/v1/admin/users/people/{bob_person}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json["active"] is False

    raised = client.patch(f"/v1/admin/organisations/{org}", headers=admin, json={"tier": "internal"})

    assert (raised.status_code, raised.json["state"]) == (202, "pending")
    assert client.get(f"/v1/admin/organisations/{org}", headers=admin).json["tier"] == "free"
    assert client.get("/v1/admin/proposals", headers=admin).json["single_admin"] is False


def test_taking_the_admin_role_from_the_only_other_admin_waits_for_a_second_person(
        client, session, admin, bob):  # type: ignore[no-untyped-def]
    from govern.identity.users import find_user

    bob_id = find_user(session, "bob").id  # type: ignore[union-attr]
    removed = client.delete(f"/v1/admin/users/{bob_id}/roles/admin", headers=admin)

    assert (removed.status_code, removed.json["kind"]) == (202, "role.remove")
    session.expire_all()
    assert "admin" in find_user(session, "bob").role_set  # type: ignore[union-attr]
    # bob himself may agree to step down
    approved = client.post(f"/v1/admin/proposals/{removed.json['id']}/approve", headers=bob)
    assert approved.status_code == 200 and approved.json["result"]["roles"] == []
