"""Access follows governance: registered models are top-tier only until signed off; a sign-off opens
its tier and above; reversal, expiry and suspension close it; every change is audited."""

from __future__ import annotations

import time
from datetime import timedelta

from factories import ACTOR, make_governed_model, make_key, ready_sign_off
from flask import Flask
from sqlalchemy import select, text

from govern.decisions.runtime import Question
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import lift_suspension, suspend_model
from govern.models import AuditEvent
from govern.models.base import utcnow


def signed_model(session, tier: str = "verified", expires_in: float | None = None,  # type: ignore[no-untyped-def]
                 **options):
    """gpt-x rated, reviewed and signed off for `tier`; with `expires_in` seconds, the sign-off
    expires that long after it is made (counted then, not before the ratings and reviews)."""
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier,
                      rationale="ok")
    if expires_in is not None:
        options["expires_at"] = utcnow() + timedelta(seconds=expires_in)
    return model, ready_sign_off(session, actor="user:boss", model=model, tier=tier, **options)


def ask(app: Flask, key: str, model: str = "gpt-x") -> tuple[bool, str]:
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question(model, "generate")], request_id=None,
                               started=time.perf_counter())
    return outcome.allow, outcome.reason.value


def keys(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {tier: make_key(session, f"org-{tier}", tier=tier)
            for tier in ("free", "verified", "trusted", "internal")}


def test_a_registered_model_without_sign_off_is_internal_only(app, session):  # type: ignore[no-untyped-def]
    tier_keys = keys(session)
    make_governed_model(session, name="gpt-x", group="standard", post="medium")
    assert ask(app, tier_keys["trusted"]) == (False, "not_signed_off")
    assert ask(app, tier_keys["internal"]) == (True, "granted_by_tier")


def test_sign_off_opens_its_tier_and_above_reversal_closes_it(app, session):  # type: ignore[no-untyped-def]
    tier_keys = keys(session)
    model, signed = signed_model(session, "trusted")
    assert ask(app, tier_keys["verified"]) == (False, "signoff_below_tier")
    assert ask(app, tier_keys["trusted"]) == (True, "granted_by_tier")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="no")
    assert ask(app, tier_keys["trusted"]) == (False, "not_signed_off")


def test_governance_never_opens_beyond_the_policy(app, session):  # type: ignore[no-untyped-def]
    tier_keys = keys(session)
    signed_model(session, "free")
    # The default policy grants `standard` generate from verified up.
    assert ask(app, tier_keys["free"]) == (False, "tier_too_low")
    assert ask(app, tier_keys["verified"]) == (True, "granted_by_tier")


def test_suspension_denies_everyone_until_lifted(app, session):  # type: ignore[no-untyped-def]
    tier_keys = keys(session)
    model, _ = signed_model(session)
    suspend_model(session, actor="user:ops", model=model, reason="incident 42")
    assert ask(app, tier_keys["internal"]) == (False, "model_suspended")
    lift_suspension(session, actor="user:ops", model=model, reason="fixed")
    assert ask(app, tier_keys["verified"]) == (True, "granted_by_tier")


def test_an_expired_sign_off_closes_without_any_change_or_request(app, session):  # type: ignore[no-untyped-def]
    tier_keys = keys(session)
    signed_model(session, expires_in=1.5)
    assert ask(app, tier_keys["verified"]) == (True, "granted_by_tier")
    runtime = app.extensions["govern.runtime"].get()
    deadline = time.monotonic() + 10
    # The watcher thread alone must notice the expiry (refresh interval 0.05 s in tests).
    while runtime.snapshot.governed["gpt-x"].open_from is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.snapshot.governed["gpt-x"].open_from is None
    (outcome,) = runtime.check(tier_keys["verified"], [Question("gpt-x", "generate")], request_id=None,
                               started=time.perf_counter())
    assert (outcome.allow, outcome.reason.value) == (False, "not_signed_off")


def test_every_governance_step_is_in_the_audit_trail(session):  # type: ignore[no-untyped-def]
    model, signed = signed_model(session)
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="no")
    suspend_model(session, actor="user:ops", model=model, reason="incident")
    events = session.execute(select(AuditEvent.actor, AuditEvent.action)
                             .where(AuditEvent.target == "model:gpt-x").order_by(AuditEvent.id)).all()
    assert [tuple(e) for e in events] == [
        (ACTOR, "model.register"),
        *[("user:rita", "model.rate")] * 4,
        ("user:rev1", "model.review"), ("user:rev2", "model.review"),
        *[(ACTOR, "model.checklist_item")] * 8,  # the launch checklist's eight items
        ("user:boss", "model.sign_off"), ("user:board", "model.reverse_sign_off"),
        ("user:ops", "model.suspend"),
    ]


def test_a_sign_off_event_rewritten_behind_govern_is_caught(session, govern):  # type: ignore[no-untyped-def]
    signed_model(session)
    event_id = session.execute(select(AuditEvent.id)
                               .where(AuditEvent.action == "model.sign_off")).scalar_one()
    session.execute(text("UPDATE audit_event SET actor = 'user:rev1' WHERE id = :id"), {"id": event_id})
    session.commit()
    result = govern("audit", "verify")
    assert result.exit_code == 1
    assert f"audit trail broken at event {event_id}: contents do not match its hash (edited)" in result.output
