"""Who could use a model, and who approved it, at a past moment: a written-out history (sign-off at
t1, a policy grant at t2, an organisation raised at t3, the board's reversal at t4), asked about
at the moments between."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import ACTOR, add_models, make_governed_model, make_org, ready_sign_off

from govern.errors import NotFound
from govern.governance.access_at import access_at
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.identity.organisations import update_org
from govern.models.base import utcnow
from govern.policy.store import change_policy


def grant_trusted_fine_tune(raw: dict) -> None:  # type: ignore[type-arg]
    raw["grants"].append({"tier": "trusted", "target": "frontier", "capability": "fine_tune"})


def test_answers_follow_the_history(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "acme", "verified")
    make_org(session, "beta", "trusted")
    model = make_governed_model(session, "frontier-1", group="frontier", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="trusted",
                      rationale="safe for trusted")
    t0 = utcnow()
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="trusted")
    t1 = utcnow()
    change_policy(session, grant_trusted_fine_tune, actor=ACTOR, comment="trusted may fine-tune frontier")
    t2 = utcnow()
    update_org(session, "acme", actor=ACTOR, tier="trusted")
    t3 = utcnow()
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="new eval")
    t4 = utcnow()

    before = access_at(session, model, t0)
    assert before.approval is None
    assert before.closed_because == "never signed off by then"
    assert before.verdicts[("trusted", "generate")].reason.value == "not_signed_off"
    assert before.who_could("generate") == ()

    signed_then = access_at(session, model, t1)
    assert signed_then.approval is not None
    assert signed_then.approval.approver == "user:boss"
    assert [(who, tier) for who, tier, _ in signed_then.approval.reviews] == [
        ("user:rev1", "trusted"), ("user:rev2", "trusted")]
    assert signed_then.who_could("generate") == ("beta",)
    assert signed_then.verdicts[("trusted", "fine_tune")].reason.value == "tier_too_low"
    assert signed_then.who_could("fine_tune") == ()
    assert signed_then.orgs == {"free": (), "verified": ("acme",), "trusted": ("beta",), "internal": ()}

    granted = access_at(session, model, t2)
    assert granted.policy_version == signed_then.policy_version + 1
    assert granted.who_could("fine_tune") == ("beta",)

    raised = access_at(session, model, t3)
    assert raised.orgs["trusted"] == ("acme", "beta")
    assert raised.who_could("fine_tune") == ("acme", "beta")
    assert raised.approval is not None and raised.approval.sign_off_id == signed.id

    reversed_ = access_at(session, model, t4)
    assert reversed_.approval is None
    assert reversed_.closed_because is not None
    assert reversed_.closed_because.startswith(f"sign-off {signed.id} was reversed by user:board at ")
    assert reversed_.verdicts[("trusted", "fine_tune")].reason.value == "not_signed_off"
    assert reversed_.allowed("internal", "fine_tune")
    assert reversed_.who_could("fine_tune") == ()


def test_suspension_and_suspended_orgs_are_read_from_the_trail(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "beta", "trusted")
    model = make_governed_model(session, "frontier-1", group="frontier", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="trusted",
                      rationale="ok")
    ready_sign_off(session, actor="user:boss", model=model, tier="trusted")
    t1 = utcnow()
    update_org(session, "beta", actor=ACTOR, suspended=True)
    t2 = utcnow()
    suspend_model(session, actor="user:board", model=model, reason="incident")
    t3 = utcnow()

    assert access_at(session, model, t1).who_could("generate") == ("beta",)
    assert access_at(session, model, t2).who_could("generate") == ()
    assert access_at(session, model, t2).suspended_orgs == frozenset({"beta"})
    suspended = access_at(session, model, t3)
    assert suspended.suspended
    assert suspended.verdicts[("internal", "generate")].reason.value == "model_suspended"


def test_a_moment_before_any_policy_is_not_found(session) -> None:  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "frontier-1", group="frontier")
    with pytest.raises(NotFound) as raised:
        access_at(session, model, model.created_at - timedelta(days=3650))
    assert raised.value.code == "no_policy_then"


def test_an_expired_sign_off_closes_the_model_from_its_expiry(session) -> None:  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "beta", "trusted")
    model = make_governed_model(session, "frontier-1", group="frontier", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="trusted",
                      rationale="ok")
    expiry = utcnow() + timedelta(days=30)
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="trusted", expires_at=expiry)

    assert access_at(session, model, expiry - timedelta(seconds=1)).who_could("generate") == ("beta",)
    after = access_at(session, model, expiry)
    assert after.who_could("generate") == ()
    assert after.closed_because == f"sign-off {signed.id} expired at {expiry:%Y-%m-%d %H:%M:%S} UTC"
