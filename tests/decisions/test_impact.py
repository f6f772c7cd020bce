"""The impact preview: logged policy answers decided again under a draft, flips counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from factories import add_models, log_decision
from sqlalchemy.orm import Session

from govern.decisions.impact import policy_impact
from govern.models.base import utcnow
from govern.policy.document import parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import current_policy


def draft(session: Session, edit: Any) -> Any:
    raw = dict(current_policy(session).document)
    edit(raw)
    return parse_document(raw)


def without_verified_standard_generate(raw: dict[str, Any]) -> None:
    raw["grants"] = [g for g in raw["grants"]
                     if (g["tier"], g["target"], g["capability"]) != ("verified", "standard", "generate")]


def test_removing_a_grant_flips_its_allows_to_deny_by_org_model_and_capability(session: Session) -> None:
    add_models(session)
    ids = [log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
               allow=True, reason="granted_by_tier") for _ in range(3)]
    log_decision(session, org="globex", tier="trusted", model="chat-standard", capability="generate",
                 allow=True,
        reason="granted_by_tier")
    log_decision(session, org="acme", tier="verified", model="open-7b", capability="generate", allow=True,
        reason="granted_by_tier")
    session.commit()

    impact = policy_impact(session, draft(session, without_verified_standard_generate))

    # trusted inherits generate on standard from verified: its answer flips too.
    assert impact.replayed == 5
    assert impact.questions == 3
    flips = impact.allow_to_deny.as_dict()
    assert flips["total"] == 4
    assert [(b["name"], b["count"]) for b in flips["by_org"]] == [("acme", 3), ("globex", 1)]
    assert [(b["name"], b["count"]) for b in flips["by_model"]] == [("chat-standard", 4)]
    assert [(b["name"], b["count"]) for b in flips["by_capability"]] == [("generate", 4)]
    assert set(flips["by_org"][0]["examples"]) <= set(ids)
    assert flips["by_org"][0]["examples"]
    assert impact.deny_to_allow.total == 0


def test_adding_a_grant_flips_denies_to_allow(session: Session) -> None:
    add_models(session)
    for _ in range(2):
        log_decision(session, org="acme", tier="free", model="chat-standard", capability="generate",
                     allow=False,
            reason="tier_too_low")
    session.commit()

    impact = policy_impact(session, draft(session, lambda raw: raw["grants"].append(
        {"tier": "free", "target": "standard", "capability": "generate"})))

    assert impact.deny_to_allow.as_dict()["total"] == 2
    assert [(b["name"], b["count"]) for b in impact.deny_to_allow.as_dict()["by_org"]] == [("acme", 2)]
    assert impact.allow_to_deny.total == 0


def test_rate_limited_and_unauthenticated_rows_are_not_replayed(session: Session) -> None:
    add_models(session)
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=False,
        reason="rate_limited")
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=False,
        reason="key_suspended")
    session.commit()

    impact = policy_impact(session, draft(session, lambda raw: raw["grants"].append(
        {"tier": "free", "target": "standard", "capability": "generate"})))

    assert impact.replayed == 0
    assert impact.deny_to_allow.total == 0


def test_only_the_chosen_days_are_replayed(session: Session) -> None:
    add_models(session)
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=True,
        reason="granted_by_tier", at=utcnow() - timedelta(days=3))
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=True,
        reason="granted_by_tier", at=utcnow() - timedelta(days=10))
    session.commit()
    removed = draft(session, without_verified_standard_generate)

    assert policy_impact(session, removed, days=7).allow_to_deny.total == 1
    assert policy_impact(session, removed, days=14).allow_to_deny.total == 2


def test_the_live_policy_as_draft_flips_nothing(session: Session) -> None:
    add_models(session)
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=True,
        reason="granted_by_tier")
    session.commit()

    impact = policy_impact(session, draft(session, lambda raw: None))

    assert impact.replayed == 1
    assert impact.allow_to_deny.total == impact.deny_to_allow.total == 0


def test_each_distinct_question_is_decided_once_per_policy(session: Session,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    add_models(session)
    for org in ("acme", "globex"):
        for _ in range(50):
            log_decision(session, org=org, tier="verified", model="chat-standard", capability="generate",
                         allow=True, reason="granted_by_tier")
    session.commit()
    evaluated: list[tuple[str, str, str]] = []
    original = PolicySnapshot._evaluate

    def counting(self: PolicySnapshot, tier: str, model: str, capability: str) -> Any:
        evaluated.append((tier, model, capability))
        return original(self, tier, model, capability)

    monkeypatch.setattr(PolicySnapshot, "_evaluate", counting)
    impact = policy_impact(session, draft(session, without_verified_standard_generate))

    assert (impact.replayed, impact.questions, impact.allow_to_deny.total) == (100, 1, 100)
    # Once under the live policy, once under the draft.
    assert evaluated == [("verified", "chat-standard", "generate")] * 2
