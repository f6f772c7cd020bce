"""The decision playground: the answer a check would get now, and why, recording nothing."""

from __future__ import annotations

import pytest
from factories import ACTOR, add_models, make_key, make_org, make_signed_model
from sqlalchemy import func, select

from govern.decisions.playground import Question, explain
from govern.errors import InvalidInput, NotFound
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.identity.issuers import create_issuer
from govern.models import AuditEvent, Decision
from govern.policy.document import RateLimit, parse_document
from govern.policy.store import change_policy, current_policy
from govern.types import Reason

ISSUER = {"name": "corp", "issuer": "https://login.example.org", "label": "Corp SSO",
          "audiences": ["https://govern.example.org"], "default_tier": "free",
          "rules": [{"claim": "groups", "contains": "researchers", "tier": "trusted"},
                    {"email_domain": "example.org", "tier": "verified"}]}


@pytest.fixture
def models(session):  # type: ignore[no-untyped-def]
    add_models(session)


def runtime(app):  # type: ignore[no-untyped-def]
    return app.extensions["govern.runtime"].get()


def counts(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    session.rollback()
    return (session.execute(select(func.count()).select_from(Decision)).scalar_one(),
            session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def test_an_organisation_granted_by_its_tier_is_allowed(session, models):
    make_org(session, "acme", "verified")
    answer = explain(session, Question("chat-standard", "generate", organisation="acme"))
    assert answer.allow is True
    assert answer.verdict.reason is Reason.GRANTED_BY_TIER
    assert answer.reason_text == "a grant to the caller's tier (or a tier below it) allows this"
    assert answer.verdict.rule == "p, verified, standard, generate, allow"
    assert answer.caller.tier == "verified"
    assert answer.governance is None


def test_a_tier_below_the_grant_is_denied_tier_too_low(session, models):
    answer = explain(session, Question("frontier-1", "generate", tier="verified"))
    assert (answer.allow, answer.verdict.reason) == (False, Reason.TIER_TOO_LOW)
    assert answer.reason_text == "a higher tier is granted this, the caller's tier is not"


def test_a_key_capped_below_its_organisation_is_decided_at_its_cap(session, models):
    secret = make_key(session, "acme", tier="trusted", tier_cap="verified")
    answer = explain(session, Question("frontier-1", "generate", key=secret[:16]))
    assert (answer.allow, answer.verdict.reason) == (False, Reason.TIER_TOO_LOW)
    assert (answer.caller.org_tier, answer.caller.tier_cap, answer.caller.tier) == (
        "trusted", "verified", "verified")


def test_a_suspended_model_is_denied_and_its_sign_off_shown(session, models):
    model, signed = make_signed_model(session, "frontier-1", group="frontier", tier="trusted")
    make_org(session, "acme", "trusted")
    before = explain(session, Question("frontier-1", "generate", organisation="acme"))
    assert before.allow is True
    assert before.governance is not None and before.governance.sign_off is not None
    assert (before.governance.sign_off.id, before.governance.sign_off.tier,
            before.governance.sign_off.approver) == (signed.id, "trusted", "user:boss")

    suspend_model(session, actor=ACTOR, model=model, reason="jailbreak found")
    after = explain(session, Question("frontier-1", "generate", organisation="acme"))
    assert (after.allow, after.verdict.reason) == (False, Reason.MODEL_SUSPENDED)
    assert after.reason_text == "the model is suspended (kill switch)"
    assert after.governance is not None and after.governance.suspended is True


def test_a_key_that_used_up_its_limit_shows_rate_limited_without_counting(app, client, session, models):
    change_policy(session, lambda raw: raw.update(rate_limits={"free": {"per_minute": 2}}),
                  actor=ACTOR, comment="limits")
    secret = make_key(session, "freeco", tier="free")
    question = Question("open-7b", "generate", key=secret[:16])
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                       headers=headers).json["allow"] is True

    fresh = explain(session, question, limiter=runtime(app).rate_limiter)
    assert fresh.allow is True
    assert [(w.period, w.limit, w.remaining) for w in fresh.counters[0].windows] == [("minute", 2, 1)]
    explain(session, question, limiter=runtime(app).rate_limiter)  # peeking twice counts nothing

    assert client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                       headers=headers).json["allow"] is True
    spent = explain(session, question, limiter=runtime(app).rate_limiter)
    assert (spent.allow, spent.verdict.reason) == (False, Reason.RATE_LIMITED)
    assert spent.counters[0].windows[0].remaining == 0
    assert spent.rate_limit == RateLimit(per_minute=2)


def test_a_draft_policy_answers_differently_from_the_live_one(session, models):
    live = current_policy(session).document
    draft = parse_document({**live, "grants": [*live["grants"],
                                               {"tier": "verified", "target": "frontier",
                                                "capability": "generate"}]})
    question = Question("frontier-1", "generate", tier="verified")
    assert explain(session, question).allow is False
    answer = explain(session, question, draft)
    assert (answer.allow, answer.draft, answer.verdict.rule) == (
        True, True, "p, verified, frontier, generate, allow")


def test_identity_claims_are_mapped_through_the_issuers_rules(session, models):
    create_issuer(session, ISSUER, actor=ACTOR)
    researcher = explain(session, Question("frontier-1", "generate", issuer="corp",
                                           claims={"sub": "u1", "groups": ["researchers"]}))
    assert (researcher.allow, researcher.caller.tier) == (True, "trusted")
    assert researcher.caller.matched_rule == "claim: groups, contains: researchers, tier: trusted"
    stranger = explain(session, Question("frontier-1", "generate", issuer="corp",
                                         claims={"sub": "u2", "email": "x@else.org"}))
    assert (stranger.allow, stranger.caller.tier) == (False, "free")
    assert stranger.caller.matched_rule == "no rule matches: the default tier free"


def test_an_unknown_key_is_a_clear_error(session, models):
    with pytest.raises(NotFound, match="no key with prefix 'gvk_nothing'"):
        explain(session, Question("open-7b", "generate", key="gvk_nothing"))


def test_a_question_must_name_exactly_one_caller(session, models):
    with pytest.raises(InvalidInput) as raised:
        explain(session, Question("open-7b", "generate", tier="free", organisation="acme"))
    assert raised.value.code == "invalid_question"


def test_the_playground_records_nothing(app, session, models):
    make_key(session, "acme", tier="verified")
    secret = make_key(session, "acme")
    before = counts(session)
    for question in (Question("chat-standard", "generate", organisation="acme"),
                     Question("chat-standard", "generate", key=secret[:16]),
                     Question("frontier-1", "tools", tier="free")):
        explain(session, question, limiter=runtime(app).rate_limiter)
    assert counts(session) == before


def test_a_reversed_sign_off_shows_the_hold_and_closes_the_model(session, models):
    model, signed = make_signed_model(session, "frontier-1", group="frontier", tier="trusted")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id,
                     rationale="new evidence")
    answer = explain(session, Question("frontier-1", "generate", tier="trusted"))
    assert (answer.allow, answer.verdict.reason) == (False, Reason.NOT_SIGNED_OFF)
    assert answer.governance is not None and answer.governance.sign_off is None
    assert answer.governance.hold is not None
    assert answer.governance.hold.startswith("Held since the board's reversal on ")
    assert answer.governance.hold.endswith(
        "needs 2 reviews recommending to open recorded after it (0 so far) and a board member's release")
