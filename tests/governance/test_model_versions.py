"""Model versions: a new version keeps the old one's records and starts unrated and closed (the old
sign-off does not carry over); the sign-off names its version; a retired model is closed to every
tier with its own reason, its records kept; the trail still agrees with the rows."""

from __future__ import annotations

import time

import pytest
from factories import make_key, make_signed_model, ready_sign_off
from flask import Flask
from sqlalchemy import select

from govern.audit.live_state import check_live_state
from govern.decisions.runtime import Question
from govern.errors import Conflict
from govern.governance.access_at import access_at
from govern.governance.holds import release_hold
from govern.governance.registry import (
    find_model,
    list_models,
    model_versions,
    register_model,
    register_version,
    retire_model,
)
from govern.governance.reviews import record_review
from govern.governance.scorecards import current_scorecard, rate_category
from govern.governance.signoffs import all_sign_offs, reverse_sign_off
from govern.governance.suspension import lift_suspension, suspend_model
from govern.models import AuditEvent
from govern.models.base import utcnow


def ask(app: Flask, key: str, model: str = "gpt-x") -> tuple[bool, str]:
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question(model, "generate")], request_id=None,
                               started=time.perf_counter())
    return outcome.allow, outcome.reason.value


def sign_new_version(session, old, model) -> None:  # type: ignore[no-untyped-def]
    """Rate `model` as `old` was rated, two reviews for verified, user:boss's sign-off."""
    for category in current_scorecard(session, old):
        rate_category(session, actor="user:rita", model=model, category=category, pre_level="high",
                      post_level="medium", evidence="eval of 2.0")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="2.0 is safe")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")


def test_a_new_version_starts_unrated_and_closed_and_keeps_the_old_records(app, session) -> None:  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    internal = make_key(session, "lab", tier="internal")
    old, signed = make_signed_model(session, "gpt-x", tier="verified")
    assert ask(app, key) == (True, "granted_by_tier")

    new = register_version(session, actor="user:ada", model=old, version="2.0")

    assert [m.version for m in model_versions(session, "gpt-x")] == ["2.0", "1.0"]
    assert find_model(session, "gpt-x").id == new.id
    assert [m.id for m in list_models(session)] == [new.id]
    assert (new.owner, new.model_group, new.preset, new.revision) == \
        (old.owner, old.model_group, old.preset, 0)
    assert current_scorecard(session, new) == {}
    assert all_sign_offs(session, new) == []
    assert [s.id for s in all_sign_offs(session, old)] == [signed.id]
    assert len(current_scorecard(session, old)) == 4
    assert ask(app, key) == (False, "not_signed_off")  # the old sign-off does not carry over
    assert ask(app, internal) == (True, "granted_by_tier")

    sign_new_version(session, old, new)
    assert ask(app, key) == (True, "granted_by_tier")
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "model.sign_off")
                            .order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert (event.after["version"], event.after["id"]) == ("2.0", all_sign_offs(session, new)[0].id)
    assert check_live_state(session).problems == []


def test_an_older_version_can_no_longer_be_signed_off_or_followed(session) -> None:  # type: ignore[no-untyped-def]
    old, _ = make_signed_model(session, "gpt-x")
    register_version(session, actor="user:ada", model=old, version="2.0")
    with pytest.raises(Conflict) as signing:
        ready_sign_off(session, actor="user:boss2", model=old, tier="verified")
    assert signing.value.code == "version_superseded"
    with pytest.raises(Conflict) as again:
        register_version(session, actor="user:ada", model=old, version="3.0")
    assert again.value.code == "version_superseded"


def test_a_version_or_a_name_is_registered_once(session) -> None:  # type: ignore[no-untyped-def]
    old, _ = make_signed_model(session, "gpt-x")
    with pytest.raises(Conflict) as same:
        register_version(session, actor="user:ada", model=old, version="1.0")
    assert same.value.code == "version_exists"
    with pytest.raises(Conflict) as name:
        register_model(session, actor="user:ada", name="gpt-x", version="9", owner="t",
                       model_group="standard")
    assert name.value.code == "model_exists"


def test_a_retired_model_is_closed_to_every_tier_and_keeps_its_records(app, session) -> None:  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    internal = make_key(session, "lab", tier="internal")
    model, signed = make_signed_model(session, "gpt-x", tier="verified")
    before = utcnow()

    retire_model(session, actor="user:ada", model=model, reason="replaced by gpt-y")

    assert ask(app, key) == (False, "model_retired")
    assert ask(app, internal) == (False, "model_retired")
    assert [s.id for s in all_sign_offs(session, model)] == [signed.id]
    with pytest.raises(Conflict) as again:
        retire_model(session, actor="user:ada", model=model, reason="twice")
    assert again.value.code == "model_retired"
    with pytest.raises(Conflict):
        ready_sign_off(session, actor="user:boss2", model=model, tier="verified")
    assert access_at(session, model, before).allowed("verified", "generate")
    now = access_at(session, model, utcnow())
    assert now.closed_because == "1.0 retired by user:ada: replaced by gpt-y"
    assert now.verdicts[("internal", "generate")].reason.value == "model_retired"
    assert check_live_state(session).problems == []


def test_access_at_follows_the_version_in_force_then(session) -> None:  # type: ignore[no-untyped-def]
    old, signed = make_signed_model(session, "gpt-x", tier="verified")
    between = utcnow()
    new = register_version(session, actor="user:ada", model=old, version="2.0")
    after = utcnow()

    then = access_at(session, new, between)
    assert (then.version, then.approval is not None) == ("1.0", True)
    assert then.approval is not None and then.approval.sign_off_id == signed.id
    later = access_at(session, old, after)
    assert (later.version, later.approval) == ("2.0", None)
    assert later.closed_because == "never signed off by then"


def test_a_new_version_of_a_suspended_model_stays_suspended(app, session) -> None:  # type: ignore[no-untyped-def]
    internal = make_key(session, "lab", tier="internal")
    old, _ = make_signed_model(session, "gpt-x")
    suspend_model(session, actor="user:ops", model=old, reason="incident 7")

    new = register_version(session, actor="user:ada", model=old, version="2.0")

    assert (new.suspended, new.suspension_reason) == (True, "incident 7")
    assert ask(app, internal) == (False, "model_suspended")
    assert access_at(session, new, utcnow()).suspended
    assert check_live_state(session).problems == []
    lift_suspension(session, actor="user:ops", model=new, reason="fixed")
    assert ask(app, internal) == (True, "granted_by_tier")
    assert check_live_state(session).problems == []


def test_a_reversal_still_holds_the_new_version(app, session) -> None:  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    old, signed = make_signed_model(session, "gpt-x", tier="verified")
    reverse_sign_off(session, actor="user:bea", model=old, sign_off_id=signed.id, rationale="new eval")
    new = register_version(session, actor="user:ada", model=old, version="2.0")

    with pytest.raises(Conflict) as held:
        sign_new_version(session, old, new)
    assert held.value.code == "held"
    assert ask(app, key) == (False, "not_signed_off")
    release_hold(session, actor="user:bea2", model=new, rationale="2.0 fixes it")
    ready_sign_off(session, actor="user:boss", model=new, tier="verified")
    assert ask(app, key) == (True, "granted_by_tier")
    assert check_live_state(session).problems == []
