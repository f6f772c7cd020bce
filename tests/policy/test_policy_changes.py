"""Changing the live policy: validated whole, versioned, audited; a refused change stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from factories import ACTOR, add_models, make_key, make_org
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.errors import PolicyRejected
from govern.models import AuditEvent, PolicyVersion
from govern.policy import edits
from govern.policy.document import Grant, parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import change_policy, current_document, current_policy, save_policy
from govern.resources import resource_dir
from govern.types import Caller

MODEL_CONF = (resource_dir("policies") / "model.conf").read_text()


def raw_policy(**changes: Any) -> dict[str, Any]:
    """A small valid policy as plain data, with `changes` applied on top."""
    raw: dict[str, Any] = {
        "tiers": ["free", "verified", "trusted", "internal"],
        "capabilities": ["generate", "fine_tune", "tools"],
        "model_groups": {"open": ["open-7b"], "standard": ["chat-standard"]},
        "grants": [{"tier": "free", "target": "open", "capability": "generate"}],
    }
    raw.update(changes)
    return raw


def state(session: Session) -> tuple[int, int, int]:
    """(live policy version, number of stored versions, number of audit events)."""
    session.rollback()  # read what is committed, not what a refused change may have left behind
    versions = session.execute(select(func.count()).select_from(PolicyVersion)).scalar_one()
    events = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    return current_policy(session).version, versions, events


def change(session: Session, mutate: Any) -> int:
    return change_policy(session, mutate, actor=ACTOR, comment="test change")


def caller(tier: str) -> Caller:
    return Caller(1, "acme", 1, "gvk_000000000000", tier, False, False)


# -- refused changes -------------------------------------------------------------------------------
@pytest.mark.parametrize(("grant", "code", "message"), [
    (Grant("gold", "open", "generate"), "unknown_tier",
     "grant allow:gold:open:generate names an unknown tier 'gold'"),
    (Grant("free", "open", "teleport"), "unknown_capability",
     "grant allow:free:open:teleport names an unknown capability 'teleport'"),
    (Grant("free", "secret-models", "generate"), "unknown_model_group",
     "grant allow:free:secret-models:generate names an unknown model group 'secret-models'"),
], ids=["tier", "capability", "model-group"])
def test_grant_naming_something_unknown_is_refused_and_nothing_stored(
        session: Session, grant: Grant, code: str, message: str) -> None:
    before = state(session)

    with pytest.raises(PolicyRejected) as refused:
        change(session, lambda raw: edits.add_grant(raw, grant))

    assert refused.value.code == code
    assert refused.value.message == message
    assert state(session) == before
    assert grant.as_dict() not in current_policy(session).document["grants"]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda raw: edits.remove_capability(raw, "fine_tune"), "unknown capability 'fine_tune'"),
    (lambda raw: edits.remove_model_group(raw, "frontier"), "unknown model group 'frontier'"),
], ids=["capability", "model-group"])
def test_removing_something_grants_still_name_is_refused(session: Session, mutate: Any,
                                                         message: str) -> None:
    before = state(session)

    with pytest.raises(PolicyRejected, match=message):
        change(session, mutate)

    assert state(session) == before


def test_unknown_tier_in_a_document_is_refused_with_its_name() -> None:
    raw = raw_policy(grants=[{"tier": "gold", "target": "open", "capability": "generate"}])

    with pytest.raises(PolicyRejected, match="unknown tier 'gold'"):
        parse_document(raw)


def test_allow_for_every_tier_is_refused() -> None:
    raw = raw_policy(grants=[{"tier": "*", "target": "open", "capability": "generate"}])

    with pytest.raises(PolicyRejected, match=r"unknown tier '\*'"):
        parse_document(raw)


def test_deny_for_every_tier_is_accepted() -> None:
    raw = raw_policy(grants=[{"tier": "*", "target": "open", "capability": "*", "effect": "deny"}])

    assert parse_document(raw).grants == (Grant("*", "open", "*", "deny"),)


def test_grant_with_an_unknown_effect_is_refused() -> None:
    raw = raw_policy(grants=[{"tier": "free", "target": "open", "capability": "generate",
                              "effect": "maybe"}])

    with pytest.raises(PolicyRejected, match="grant effect must be allow or deny, got 'maybe'"):
        parse_document(raw)


def test_blocking_an_unknown_model_is_refused(session: Session) -> None:
    before = state(session)

    with pytest.raises(PolicyRejected, match="unknown model 'ghost-1' in blocked_models"):
        change(session, lambda raw: edits.block_model(raw, "ghost-1"))

    assert state(session) == before


def test_model_in_two_groups_is_refused(session: Session) -> None:
    add_models(session)
    before = state(session)

    with pytest.raises(PolicyRejected) as refused:
        change(session, lambda raw: raw["model_groups"]["frontier"].append("open-7b"))

    assert refused.value.message == "model 'open-7b' is in both 'open' and 'frontier'"
    assert state(session) == before
    assert current_document(session).models["open-7b"] == "open"


def test_removing_a_tier_still_used_by_an_organisation_is_refused(session: Session) -> None:
    make_org(session, "acme", "free")
    before = state(session)

    def drop_free(raw: dict[str, Any]) -> None:
        edits.remove_tier(raw, "free")
        raw["grants"] = [g for g in raw["grants"] if g["tier"] != "free"]

    with pytest.raises(PolicyRejected) as refused:
        change(session, drop_free)

    assert refused.value.code == "tier_in_use"
    assert "free" in refused.value.message
    assert state(session) == before
    assert current_document(session).tiers == ("free", "verified", "trusted", "internal")


def test_removing_a_tier_still_used_as_a_key_cap_is_refused(session: Session) -> None:
    make_org(session, "acme", "trusted")
    make_key(session, "acme", tier_cap="free")
    before = state(session)

    def drop_free(raw: dict[str, Any]) -> None:
        edits.remove_tier(raw, "free")
        raw["grants"] = [g for g in raw["grants"] if g["tier"] != "free"]

    with pytest.raises(PolicyRejected) as refused:
        change(session, drop_free)

    assert refused.value.code == "tier_in_use"
    assert state(session) == before


def test_removing_a_tier_nobody_uses_is_accepted(session: Session) -> None:
    make_org(session, "acme", "verified")
    version, _, _ = state(session)

    def drop_free(raw: dict[str, Any]) -> None:
        edits.remove_tier(raw, "free")
        raw["grants"] = [g for g in raw["grants"] if g["tier"] != "free"]

    assert change(session, drop_free) == version + 1
    assert current_document(session).tiers == ("verified", "trusted", "internal")


def test_removing_a_tier_that_grants_still_name_is_refused(session: Session) -> None:
    before = state(session)

    with pytest.raises(PolicyRejected, match="unknown tier 'free'"):
        change(session, lambda raw: edits.remove_tier(raw, "free"))

    assert state(session) == before


def test_model_conf_that_does_not_parse_is_refused(session: Session) -> None:
    before = state(session)

    with pytest.raises(PolicyRejected, match="the Casbin model"):
        save_policy(session, current_document(session), "[request_definition]\nr = sub\n",
                    actor=ACTOR)

    assert state(session) == before


# -- accepted changes ------------------------------------------------------------------------------
def test_every_accepted_change_bumps_the_version_by_one_and_is_audited(session: Session) -> None:
    version, versions, events = state(session)

    first = change(session, lambda raw: edits.add_capability(raw, "embed"))
    second = change(session, lambda raw: edits.add_grant(raw, Grant("free", "open", "embed")))

    assert (first, second) == (version + 1, version + 2)
    assert state(session) == (version + 2, versions + 2, events + 2)
    audit = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)).scalars()
    latest, earlier = list(audit)
    assert (earlier.action, earlier.target, earlier.actor) == (
        "policy.change", f"policy:{version + 1}", ACTOR)
    assert (latest.action, latest.target) == ("policy.change", f"policy:{version + 2}")
    assert latest.after is not None and latest.before is not None
    embed = {"tier": "free", "target": "open", "capability": "embed"}
    assert embed in latest.after["document"]["grants"]
    assert embed not in latest.before["document"]["grants"]


def test_accepted_change_is_what_the_live_policy_then_says(session: Session) -> None:
    add_models(session)

    change(session, lambda raw: edits.add_grant(raw, Grant("free", "standard", "generate")))

    row = current_policy(session)
    assert {"tier": "free", "target": "standard", "capability": "generate"} in row.document["grants"]
    assert row.actor == ACTOR
    assert row.comment == "test change"


def test_a_change_that_raises_midway_stores_nothing(session: Session) -> None:
    before = state(session)

    def half_done(raw: dict[str, Any]) -> None:
        edits.add_capability(raw, "embed")
        raise RuntimeError("editor crashed")

    with pytest.raises(RuntimeError):
        change(session, half_done)

    assert state(session) == before
    assert "embed" not in current_document(session).capabilities


# -- priority: denies win --------------------------------------------------------------------------
def test_denies_come_before_allows_in_the_casbin_rules() -> None:
    document = parse_document(raw_policy(grants=[
        {"tier": "free", "target": "open", "capability": "generate"},
        {"tier": "verified", "target": "open", "capability": "generate", "effect": "deny"},
        {"tier": "trusted", "target": "standard", "capability": "tools"},
    ], blocked_models=["chat-standard"]))

    policy_lines = [rule for rule in document.casbin_rules() if rule[0] == "p"]

    assert policy_lines == [
        ("p", "*", "chat-standard", "*", "deny"),
        ("p", "verified", "open", "generate", "deny"),
        ("p", "free", "open", "generate", "allow"),
        ("p", "trusted", "standard", "tools", "allow"),
    ]


def test_deny_listed_after_the_allow_still_wins() -> None:
    document = parse_document(raw_policy(grants=[
        {"tier": "free", "target": "open", "capability": "generate"},
        {"tier": "trusted", "target": "open", "capability": "generate"},
        {"tier": "verified", "target": "open-7b", "capability": "generate", "effect": "deny"},
    ]))
    snapshot = PolicySnapshot(1, document, MODEL_CONF)

    assert snapshot.decide(caller("free"), "open-7b", "generate").reason.value == "granted_by_tier"
    for tier in ("verified", "trusted", "internal"):
        verdict = snapshot.decide(caller(tier), "open-7b", "generate")
        assert (verdict.allow, verdict.reason.value) == (False, "denied_by_rule"), tier


def test_blocked_model_wins_over_a_grant_for_that_very_model() -> None:
    document = parse_document(raw_policy(
        grants=[{"tier": "free", "target": "open-7b", "capability": "generate"}],
        blocked_models=["open-7b"]))
    snapshot = PolicySnapshot(1, document, MODEL_CONF)

    verdict = snapshot.decide(caller("internal"), "open-7b", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "model_blocked")
