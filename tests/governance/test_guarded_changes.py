"""Which changes are guarded: what can widen access or grant governance power needs a second admin,
what only narrows it applies at once (the classifier every entry point goes through)."""

from __future__ import annotations

import pytest
from factories import ACTOR, add_models, make_key, make_org
from sqlalchemy.orm import Session

from govern.governance.proposal_kinds import Change, Guard
from govern.governance.proposals import assess, is_guarded
from govern.identity.issuers import create_issuer
from govern.identity.keys import list_keys
from govern.policy.store import current_policy

ISSUER = {"name": "corp", "issuer": "https://idp.corp.example", "audiences": ["govern"],
          "default_tier": "free", "rules": []}
SSO = {"client_id": "govern-ui", "client_secret_env": "CORP_SECRET"}


def issuer_change(**changes: object) -> Change:
    return Change("issuer.set", {"name": "corp", "doc": {**ISSUER, **changes}})


def test_raising_an_organisations_tier_is_guarded_and_lowering_it_is_not(session: Session):
    org = make_org(session, "acme", "verified")

    assert is_guarded(session, Change("org.tier", {"org_id": org, "tier": "trusted"}))
    assert not is_guarded(session, Change("org.tier", {"org_id": org, "tier": "free"}))
    assert not is_guarded(session, Change("org.tier", {"org_id": org, "name": "acme ltd"}))
    assert is_guarded(session, Change("org.tier", {"name": "new", "tier": "verified"}))
    assert not is_guarded(session, Change("org.tier", {"name": "new", "tier": "free"}))


def test_raising_or_lifting_a_key_cap_is_guarded(session: Session):
    make_key(session, "acme", tier="internal", tier_cap="verified")
    [key] = list_keys(session, "acme")

    assert is_guarded(session, Change("key.cap", {"prefix": key.prefix, "tier_cap": "trusted"}))
    assert is_guarded(session, Change("key.cap", {"prefix": key.prefix, "clear_tier_cap": True}))
    assert not is_guarded(session, Change("key.cap", {"prefix": key.prefix, "tier_cap": "free"}))
    assert not is_guarded(session, Change("key.cap", {"prefix": key.prefix, "suspended": True}))


def test_a_policy_change_is_guarded_unless_it_only_blocks_models(session: Session):
    add_models(session)
    row = current_policy(session)
    blocked = {**row.document, "blocked_models": ["open-7b"]}

    def policy(document: dict[str, object]) -> Change:
        return Change("policy.replace", {"document": document, "model_conf": row.model_conf})

    assert not is_guarded(session, policy(blocked))
    assert is_guarded(session, policy({**row.document, "capabilities": [
        *row.document["capabilities"], "embed"]}))


@pytest.mark.parametrize(("before", "after", "guard"), [
    ({}, {"default_tier": "trusted"}, Guard.GUARDED),
    ({}, {"enabled": False}, Guard.NONE),
    ({}, {"sso": {**SSO, "roles": {"staff": ["auditor"]}}}, Guard.GUARDED),
    ({}, {"sso": {**SSO, "roles": {"staff": ["reviewer"]}}}, Guard.GOVERNANCE),
    # the same governance mapping, now trusted from another provider or client
    ({"sso": {**SSO, "roles": {"staff": ["admin"]}}},
     {"issuer": "https://evil.example", "sso": {**SSO, "roles": {"staff": ["admin"]}}}, Guard.GOVERNANCE),
    ({"sso": {**SSO, "roles": {"staff": ["admin"]}}},
     {"sso": {**SSO, "client_id": "mine", "roles": {"staff": ["admin"]}}}, Guard.GOVERNANCE),
    ({"sso": {**SSO, "roles": {"staff": ["admin"]}}},
     {"sso": {**SSO, "roles": {"staff": ["admin"], "contractors": ["approver"]}}}, Guard.GOVERNANCE),
    ({"sso": {**SSO, "roles": {"staff": ["admin"]}}, "enabled": False},
     {"sso": {**SSO, "roles": {"staff": ["admin"]}}, "enabled": True}, Guard.GOVERNANCE),
    ({"sso": {**SSO, "roles": {"staff": ["admin", "reviewer"]}}},
     {"sso": {**SSO, "roles": {"staff": ["reviewer"]}}}, Guard.GUARDED),
])
def test_an_issuer_change_is_a_governance_grant_when_it_lets_a_group_into_a_governance_role(
        session: Session, before: dict[str, object], after: dict[str, object], guard: Guard):
    create_issuer(session, {**ISSUER, **before}, actor=ACTOR)

    assert assess(session, issuer_change(**{**before, **after})).guard is guard


def test_granting_a_governance_role_is_a_governance_grant(session: Session):
    assert assess(session, Change("role.grant", {"username": "rita", "roles": ["reviewer"]})).guard \
        is Guard.GOVERNANCE
    assert assess(session, Change("role.grant", {"username": "aud", "roles": ["auditor"]})).guard \
        is Guard.GUARDED
