"""The access decision, table-driven over every tier x capability x model group of the default policy.

The expected table is written out by hand from the intent of policies/policy.yaml:

    free      generate on open
    verified  + tools on open, generate on standard
    trusted   + fine_tune on open and standard, tools on standard, generate on frontier
    internal  + tools and fine_tune on frontier, everything on research

Each tier inherits the grants of the tiers below it, so a deny is `tier_too_low` whenever some higher
tier holds the grant (in the default policy `internal` holds everything).
"""

from __future__ import annotations

import time

import pytest
from databases import copy_database
from factories import ACTOR, add_models, casbin_model, make_key, make_org

from govern import create_app
from govern.decisions.runtime import Question
from govern.extensions import db
from govern.identity.keys import update_key
from govern.identity.organisations import update_org
from govern.policy import edits
from govern.policy.casbin_answers import answers_for
from govern.policy.document import Grant, parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import change_policy, current_snapshot
from govern.resources import resource_dir
from govern.types import Caller, ModelAccess, Reason

ALLOW = "granted_by_tier"
LOW = "tier_too_low"

TIERS = ("free", "verified", "trusted", "internal")
CAPABILITIES = ("generate", "fine_tune", "tools")
MODELS = ("open-7b", "chat-standard", "frontier-1", "research-preview")

#               model:              generate  fine_tune  tools
EXPECTED: dict[str, dict[str, tuple[str, str, str]]] = {
    "free": {
        "open-7b":          (ALLOW,   LOW,      LOW),
        "chat-standard":    (LOW,     LOW,      LOW),
        "frontier-1":       (LOW,     LOW,      LOW),
        "research-preview": (LOW,     LOW,      LOW),
    },
    "verified": {
        "open-7b":          (ALLOW,   LOW,      ALLOW),
        "chat-standard":    (ALLOW,   LOW,      LOW),
        "frontier-1":       (LOW,     LOW,      LOW),
        "research-preview": (LOW,     LOW,      LOW),
    },
    "trusted": {
        "open-7b":          (ALLOW,   ALLOW,    ALLOW),
        "chat-standard":    (ALLOW,   ALLOW,    ALLOW),
        "frontier-1":       (ALLOW,   LOW,      LOW),
        "research-preview": (LOW,     LOW,      LOW),
    },
    "internal": {
        "open-7b":          (ALLOW,   ALLOW,    ALLOW),
        "chat-standard":    (ALLOW,   ALLOW,    ALLOW),
        "frontier-1":       (ALLOW,   ALLOW,    ALLOW),
        "research-preview": (ALLOW,   ALLOW,    ALLOW),
    },
}

CELLS = [
    pytest.param(tier, model, capability, EXPECTED[tier][model][column],
                 id=f"{tier}-{capability}-{model}")
    for tier in TIERS
    for model in MODELS
    for column, capability in enumerate(CAPABILITIES)
]


def caller(tier: str, *, org_suspended: bool = False, key_suspended: bool = False) -> Caller:
    return Caller(org_id=1, org_name="acme", key_id=1, key_prefix="gvk_000000000000", tier=tier,
                  org_suspended=org_suspended, key_suspended=key_suspended)


@pytest.fixture(scope="module")
def default_snapshot(tmp_path_factory: pytest.TempPathFactory, template_db: str) -> PolicySnapshot:
    """The default policy with the four demo models, read back from a migrated database.

    Built once for the table: the snapshot is immutable, so sharing it between tests is safe."""
    instance = tmp_path_factory.mktemp("decision-table")
    app = create_app({
        "GOVERN_ENV": "testing",
        "GOVERN_INSTANCE_PATH": str(instance),
        "GOVERN_DATABASE_URL": copy_database(template_db, instance),
        "GOVERN_SECRET_KEY": "test-secret-" + "x" * 40,
    })
    with app.app_context():
        add_models(db.session)
        snapshot = current_snapshot(db.session)
        db.session.remove()
        db.engine.dispose()
    return snapshot


@pytest.fixture
def live(session) -> PolicySnapshot:  # type: ignore[no-untyped-def]
    """The live policy (default plus the demo models) in the per-test database."""
    add_models(session)
    return current_snapshot(session)


def ask(app, key: str, *questions: tuple[str, str]) -> list[tuple[bool, str]]:  # type: ignore[no-untyped-def]
    """Ask the running decision runtime as `key` would; (allow, reason) per question."""
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()  # follow changes made by the test now rather than at the next poll
    outcomes = runtime.check(key, [Question(m, c) for m, c in questions], request_id=None,
                             started=time.perf_counter())
    return [(o.allow, o.reason.value) for o in outcomes]


def change(session, mutate) -> int:  # type: ignore[no-untyped-def]
    return change_policy(session, mutate, actor=ACTOR, comment="test")


# -- the table -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tier", "model", "capability", "reason"), CELLS)
def test_decision_follows_the_tier_table(default_snapshot: PolicySnapshot, tier: str, model: str,
                                         capability: str, reason: str) -> None:
    verdict = default_snapshot.decide(caller(tier), model, capability)

    assert (verdict.allow, verdict.reason.value) == (reason == ALLOW, reason)
    assert verdict.tier == tier
    assert verdict.policy_version == default_snapshot.version


def test_an_allow_names_the_grant_that_matched(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("trusted"), "open-7b", "generate")

    assert verdict.rule == "p, free, open, generate, allow"


def test_a_capability_no_tier_holds_is_not_granted(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    change(session, lambda raw: edits.add_capability(raw, "embed"))
    snapshot = current_snapshot(session)

    for tier in TIERS:
        for model in ("open-7b", "chat-standard", "frontier-1"):
            verdict = snapshot.decide(caller(tier), model, "embed")
            assert (verdict.allow, verdict.reason.value) == (False, "not_granted"), (tier, model)
    # research grants "*" to internal, so the new capability is open there and too high for the rest
    assert snapshot.decide(caller("internal"), "research-preview", "embed").allow is True
    assert snapshot.decide(caller("trusted"), "research-preview", "embed").reason.value == LOW


# -- questions outside the policy ------------------------------------------------------------------
def test_unknown_model_is_denied(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("internal"), "gpt-unknown", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "unknown_model")


def test_unknown_capability_is_denied(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("internal"), "open-7b", "teleport")

    assert (verdict.allow, verdict.reason.value) == (False, "unknown_capability")


def test_unknown_tier_is_denied(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("platinum"), "open-7b", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "unknown_tier")


def test_a_model_group_name_is_not_a_model(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("internal"), "open", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "unknown_model")


# -- blocks and explicit denies --------------------------------------------------------------------
def test_blocked_model_is_denied_even_to_internal(live: PolicySnapshot, session) -> None:  # type: ignore[no-untyped-def]
    change(session, lambda raw: edits.block_model(raw, "research-preview"))
    snapshot = current_snapshot(session)

    for tier in TIERS:
        for capability in CAPABILITIES:
            verdict = snapshot.decide(caller(tier), "research-preview", capability)
            assert (verdict.allow, verdict.reason.value) == (False, "model_blocked"), (tier, capability)
    # the other models are untouched
    assert snapshot.decide(caller("internal"), "frontier-1", "tools").allow is True


def test_explicit_deny_wins_over_an_allow(live: PolicySnapshot, session) -> None:  # type: ignore[no-untyped-def]
    deny = Grant("verified", "open", "generate", effect="deny")
    change(session, lambda raw: edits.add_grant(raw, deny))
    snapshot = current_snapshot(session)

    # verified and every tier above it inherit the deny, and it beats free's allow they also inherit
    for tier in ("verified", "trusted", "internal"):
        verdict = snapshot.decide(caller(tier), "open-7b", "generate")
        assert (verdict.allow, verdict.reason.value) == (False, "denied_by_rule"), tier
        assert verdict.rule == "p, verified, open, generate, deny"
    # a tier below the deny keeps its grant
    assert snapshot.decide(caller("free"), "open-7b", "generate").allow is True
    # other capabilities on the same group are untouched
    assert snapshot.decide(caller("verified"), "open-7b", "tools").allow is True


def test_explicit_deny_on_a_single_model_beats_the_group_allow(live: PolicySnapshot, session) -> None:  # type: ignore[no-untyped-def]
    add_models(session, {"frontier": ["frontier-2"]})
    deny = Grant("*", "frontier-1", "*", effect="deny")
    change(session, lambda raw: edits.add_grant(raw, deny))
    snapshot = current_snapshot(session)

    verdict = snapshot.decide(caller("internal"), "frontier-1", "generate")
    assert (verdict.allow, verdict.reason.value) == (False, "denied_by_rule")
    assert snapshot.decide(caller("internal"), "frontier-2", "generate").allow is True


# -- the caller: suspensions and tier caps ---------------------------------------------------------
def test_suspended_org_is_denied(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("internal", org_suspended=True), "open-7b", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "org_suspended")


def test_suspended_key_is_denied(default_snapshot: PolicySnapshot) -> None:
    verdict = default_snapshot.decide(caller("internal", key_suspended=True), "open-7b", "generate")

    assert (verdict.allow, verdict.reason.value) == (False, "key_suspended")


def test_suspending_an_org_denies_its_keys_until_unsuspended(app, session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    key = make_key(session, "acme", tier="internal")
    assert ask(app, key, ("open-7b", "generate")) == [(True, ALLOW)]

    update_org(session, "acme", actor=ACTOR, suspended=True)
    assert ask(app, key, ("open-7b", "generate")) == [(False, "org_suspended")]

    update_org(session, "acme", actor=ACTOR, suspended=False)
    assert ask(app, key, ("open-7b", "generate")) == [(True, ALLOW)]


def test_suspending_a_key_denies_it(app, session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    key = make_key(session, "acme", tier="internal")
    update_key(session, key[:16], actor=ACTOR, suspended=True)

    assert ask(app, key, ("open-7b", "generate")) == [(False, "key_suspended")]


def test_key_capped_to_a_lower_tier_gets_that_tiers_answers(app, session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "acme", "internal")
    capped = make_key(session, "acme", tier_cap="verified")
    questions = [(model, capability) for model in MODELS for capability in CAPABILITIES]

    answers = ask(app, capped, *questions)

    expected = [(reason == ALLOW, reason) for model in MODELS for reason in EXPECTED["verified"][model]]
    assert answers == expected


def test_key_cap_above_the_org_tier_does_not_raise_it(app, session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "acme", "free")
    key = make_key(session, "acme", tier_cap="internal")

    assert ask(app, key, ("open-7b", "generate"), ("chat-standard", "generate")) == [
        (True, ALLOW), (False, LOW)]


# -- the memo --------------------------------------------------------------------------------------
class CasbinCalled(Exception):
    pass


def refuse(*args: object) -> None:
    raise CasbinCalled(args)


def test_memo_answers_a_repeated_question_without_casbin(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    answers_for.cache_clear()  # no answer of this policy kept from another test's snapshots
    snapshot = current_snapshot(session)
    first = snapshot.decide(caller("verified"), "chat-standard", "generate")

    monkeypatch.setattr(snapshot._casbin._enforcer, "enforce_ex", refuse)

    assert snapshot.decide(caller("verified"), "chat-standard", "generate") == first
    # a question not asked before does reach Casbin, so the patch above is really in the way
    with pytest.raises(CasbinCalled):
        snapshot.decide(caller("verified"), "chat-standard", "tools")


def test_warmed_snapshot_answers_the_whole_table_without_casbin(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    snapshot = current_snapshot(session)
    snapshot.warm()
    monkeypatch.setattr(snapshot._casbin._enforcer, "enforce_ex", refuse)

    for tier in TIERS:
        for model in MODELS:
            for column, capability in enumerate(CAPABILITIES):
                reason = EXPECTED[tier][model][column]
                verdict = snapshot.decide(caller(tier), model, capability)
                assert (verdict.allow, verdict.reason.value) == (reason == ALLOW, reason)


def test_runtime_keeps_answering_from_the_memo(app, session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    key = make_key(session, "acme", tier="trusted")
    assert ask(app, key, ("frontier-1", "generate")) == [(True, ALLOW)]
    snapshot = app.extensions["govern.runtime"].get().snapshot
    monkeypatch.setattr(snapshot._casbin._enforcer, "enforce_ex", refuse)

    assert ask(app, key, ("frontier-1", "generate"), ("frontier-1", "tools")) == [
        (True, ALLOW), (False, LOW)]


def test_new_governance_facts_apply_without_asking_casbin_again(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    before = current_snapshot(session)
    before.warm()
    assert before.decide(caller("trusted"), "frontier-1", "generate").allow is True
    monkeypatch.setattr(before._casbin._enforcer, "enforce_ex", refuse)

    # The kill switch on frontier-1: the same policy, other facts. Casbin is not asked again ...
    killed = current_snapshot(session, {"frontier-1": ModelAccess(open_from=None, suspended=True)})
    killed.warm()
    verdict = killed.decide(caller("trusted"), "frontier-1", "generate")
    # ... and the new facts decide, not the answers kept from before.
    assert (verdict.allow, verdict.reason) == (False, Reason.MODEL_SUSPENDED)
    assert killed.decide(caller("trusted"), "chat-standard", "generate").allow is True
    # A changed policy is a policy of its own: its questions go to Casbin.
    change(session, lambda raw: edits.add_grant(raw, Grant("free", "standard", "generate")))
    assert current_snapshot(session).decide(caller("free"), "chat-standard", "generate").allow is True


def test_the_same_lines_under_another_model_are_another_policy(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    shipped = current_snapshot(session)
    assert shipped.decide(caller("trusted"), "frontier-1", "generate").allow is True
    # The same document framed by a model whose matcher matches no line: nothing kept from the
    # shipped model's answers may reach it.
    closed = PolicySnapshot(shipped.version, shipped.document, casbin_model("r.sub == 'nobody'"))
    verdict = closed.decide(caller("trusted"), "frontier-1", "generate")
    assert (verdict.allow, verdict.reason.value) == (False, "not_granted")


def test_a_snapshot_keeps_its_answers_after_the_policy_changes(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    before = current_snapshot(session)
    change(session, lambda raw: edits.add_grant(raw, Grant("free", "standard", "generate")))
    after = current_snapshot(session)

    assert before.decide(caller("free"), "chat-standard", "generate").allow is False
    assert after.decide(caller("free"), "chat-standard", "generate").allow is True
    assert after.version == before.version + 1


def test_top_tier_inherits_from_the_lowest_of_many_tiers() -> None:
    tiers = [f"level-{n:02d}" for n in range(15)]
    document = parse_document({
        "tiers": tiers,
        "capabilities": ["generate", "tools"],
        "model_groups": {"open": ["open-7b"]},
        "grants": [{"tier": "level-00", "target": "open", "capability": "generate"},
                   {"tier": "level-14", "target": "open", "capability": "tools"}],
    })
    snapshot = PolicySnapshot(1, document, (resource_dir("policies") / "model.conf").read_text())

    for tier in tiers:
        assert snapshot.decide(caller(tier), "open-7b", "generate").reason.value == ALLOW, tier
    for tier in tiers[:-1]:
        assert snapshot.decide(caller(tier), "open-7b", "tools").reason.value == LOW, tier
