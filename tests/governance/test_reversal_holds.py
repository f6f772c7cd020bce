"""A reversal holds: after the board reverses a sign-off, signing the model off again needs a quorum of
reviews recorded after the reversal and a board member's release; the same after a lifted suspension
when the preset asks. Every way round it an approver or board member might try is refused here, in
the service that every entry point calls."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from factories import make_governed_model, make_key, ready_sign_off
from flask import Flask
from sqlalchemy import select

from govern.decisions.runtime import Question
from govern.errors import ConfigError, Conflict, Forbidden, InvalidInput
from govern.governance.holds import release_hold
from govern.governance.presets import get_preset, presets
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import lift_suspension, suspend_model
from govern.models import AuditEvent, GovernedModel, SignOff
from govern.resources import resource_dir

WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


def review(session, model: GovernedModel, *reviewers: str, tier: str = "verified") -> None:  # type: ignore[no-untyped-def]
    for reviewer in reviewers:
        record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier,
                      rationale="safeguards verified")


def reversed_model(session, preset: str | None = None):  # type: ignore[no-untyped-def]
    """gpt-x signed off for verified by user:boss on the reviews of rev1 and rev2, then reversed."""
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    if preset is not None:
        model.preset = preset
        session.commit()
    review(session, model, "user:rev1", "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="missed it")
    return model


def refused(session, model: GovernedModel, actor: str = "user:boss", tier: str = "verified") -> Conflict:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict) as caught:
        ready_sign_off(session, actor=actor, model=model, tier=tier)
    assert caught.value.code == "held"
    return caught.value


def ask(app: Flask, key: str) -> tuple[bool, str]:
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question("gpt-x", "generate")], request_id=None,
                               started=time.perf_counter())
    return outcome.allow, outcome.reason.value


@pytest.fixture
def preset_with(monkeypatch):  # type: ignore[no-untyped-def]
    """preset_with(name, **flags): a preset like the 2023 one with other hold flags, put among the
    configured presets for this test."""

    def make(name: str, **flags: bool) -> str:
        preset = dataclasses.replace(get_preset("preparedness-2023"), name=name, **flags)
        monkeypatch.setitem(presets(), name, preset)
        return name

    return make


def test_re_signing_on_the_reviews_from_before_the_reversal_is_refused(app, session):  # type: ignore[no-untyped-def]
    verified = make_key(session, "org-v", tier="verified")
    model = reversed_model(session)
    error = refused(session, model)
    assert re.fullmatch(f"Held since the board's reversal on {WHEN}: needs 2 reviews recommending verified "
                        f"or a lower tier recorded after it \\(0 so far\\) and a board member's release",
                        error.message), error.message
    assert session.execute(select(SignOff)).scalars().all()[-1].reversed_by == "user:bea"
    assert ask(app, verified) == (False, "not_signed_off")


def test_another_approver_or_a_higher_tier_only_is_refused_as_well(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    refused(session, model, actor="user:other-approver")
    for tier in ("trusted", "internal"):
        refused(session, model, tier=tier)
    assert len(session.execute(select(SignOff)).scalars().all()) == 1


def test_a_fresh_quorum_without_the_release_is_refused(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    review(session, model, "user:rev3", "user:rev4")
    error = refused(session, model)
    assert error.message.endswith(": needs a board member's release")


def test_the_release_alone_is_not_enough(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    release_hold(session, actor="user:bea", model=model, rationale="study reviewed")
    review(session, model, "user:rev3")
    error = refused(session, model)
    assert error.message.endswith(": needs 2 reviews recommending verified or a lower tier recorded after "
                                  "it (1 so far)")


def test_the_reviewers_of_before_may_review_again_after_the_reversal(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    release_hold(session, actor="user:bea", model=model, rationale="study reviewed")
    review(session, model, "user:rev1", "user:rev2")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"


def test_a_fresh_quorum_and_the_release_open_the_model_again_and_end_the_hold(app, session):  # type: ignore[no-untyped-def]
    verified = make_key(session, "org-v", tier="verified")
    model = reversed_model(session)
    review(session, model, "user:rev3", "user:rev4")
    release_hold(session, actor="user:bea", model=model, rationale="the bio uplift study is in")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    assert ask(app, verified) == (True, "granted_by_tier")
    events = session.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.after)
                             .where(AuditEvent.target == "model:gpt-x").order_by(AuditEvent.id)).all()
    assert [(actor, action) for actor, action, _ in events[-6:]] == [
        ("user:boss", "model.sign_off"), ("user:bea", "model.reverse_sign_off"),
        ("user:rev3", "model.review"), ("user:rev4", "model.review"),
        ("user:bea", "model.release_hold"), ("user:boss", "model.sign_off")]
    release, resigned = events[-2].after, events[-1].after
    assert resigned["ended_hold"] == release["hold"]
    assert (release["released_by"], release["release_rationale"]) == ("user:bea",
                                                                       "the bio uplift study is in")
    # The hold is over: a later sign-off (here narrowing to trusted) needs only the usual quorum.
    review(session, model, "user:rev3", "user:rev4", tier="trusted")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="trusted").tier == "trusted"


def test_reviews_recorded_before_the_reversal_for_a_later_revision_do_not_count(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="high",
                  post_level="low", evidence="new eval")  # revision 5, after the sign-off's 4
    review(session, model, "user:rev3", "user:rev4")
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="no")
    release_hold(session, actor="user:bea", model=model, rationale="ok")
    assert "(0 so far)" in refused(session, model, actor="user:boss2").message


def test_a_second_reversal_holds_again_with_its_own_reviews_and_release(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    review(session, model, "user:rev3", "user:rev4")
    release_hold(session, actor="user:bea", model=model, rationale="ok")
    second = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:bob", model=model, sign_off_id=second.id, rationale="again")
    error = refused(session, model)
    assert error.message.endswith("(0 so far) and a board member's release")
    release_hold(session, actor="user:bea", model=model, rationale="ok")  # the new hold's own release
    with pytest.raises(Conflict, match="the hold was already released by user:bea"):
        release_hold(session, actor="user:bea", model=model, rationale="twice")


def test_the_board_member_who_released_cannot_sign_off(session):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    review(session, model, "user:rev3", "user:rev4")
    release_hold(session, actor="user:bea", model=model, rationale="ok")
    with pytest.raises(Forbidden) as caught:
        ready_sign_off(session, actor="user:bea", model=model, tier="verified")
    assert caught.value.code == "separation_of_duties"


def test_a_release_needs_a_rationale_and_a_hold(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    with pytest.raises(Conflict) as not_held:
        release_hold(session, actor="user:bea", model=model, rationale="ok")
    assert not_held.value.code == "not_held"
    model = make_governed_model(session, name="gpt-y", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="no")
    with pytest.raises(InvalidInput) as no_reason:
        release_hold(session, actor="user:bea", model=model, rationale="  ")
    assert no_reason.value.code == "missing_rationale"
    released = session.execute(select(AuditEvent).where(AuditEvent.action == "model.release_hold")).first()
    assert released is None


def test_a_preset_without_the_release_needs_only_the_fresh_quorum(session, preset_with):  # type: ignore[no-untyped-def]
    model = reversed_model(session, preset_with("no-release", hold_needs_release=False))
    error = refused(session, model)
    assert error.message.endswith("recorded after it (0 so far)")
    with pytest.raises(Conflict) as caught:
        release_hold(session, actor="user:bea", model=model, rationale="ok")
    assert caught.value.code == "release_not_needed"
    review(session, model, "user:rev3", "user:rev4")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"


def test_lifting_a_suspension_holds_the_model_when_the_preset_asks(app, session, preset_with):  # type: ignore[no-untyped-def]
    verified = make_key(session, "org-v", tier="verified")
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    model.preset = preset_with("strict", hold_after_suspension=True)
    session.commit()
    review(session, model, "user:rev1", "user:rev2")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    suspend_model(session, actor="user:ops", model=model, reason="incident 42")
    # Signing off anew during the suspension does not escape the hold that lifting starts.
    ready_sign_off(session, actor="user:boss2", model=model, tier="verified")
    lift_suspension(session, actor="user:ops", model=model, reason="fixed")
    assert ask(app, verified) == (False, "not_signed_off")
    error = refused(session, model)
    assert re.fullmatch(f"Held since the lifting of the suspension on {WHEN}: needs 2 reviews recommending "
                        f"verified or a lower tier recorded after it \\(0 so far\\) and a board member's "
                        f"release", error.message), error.message
    review(session, model, "user:rev3", "user:rev4")
    release_hold(session, actor="user:bea", model=model, rationale="incident closed")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    assert ask(app, verified) == (True, "granted_by_tier")


def test_by_default_lifting_a_suspension_reopens_at_once(app, session):  # type: ignore[no-untyped-def]
    verified = make_key(session, "org-v", tier="verified")
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    suspend_model(session, actor="user:ops", model=model, reason="serving bug")
    lift_suspension(session, actor="user:ops", model=model, reason="fixed")
    assert ask(app, verified) == (True, "granted_by_tier")


def test_the_hold_settings_of_a_preset_must_be_true_or_false(tmp_path):  # type: ignore[no-untyped-def]
    shipped = (resource_dir("policies") / "preparedness" / "preparedness-2023.yaml").read_text()
    typo = shipped.replace("hold_needs_release: true", 'hold_needs_release: "no"')
    (tmp_path / "typo.yaml").write_text(typo)
    with pytest.raises(ConfigError, match="preset typo: hold_needs_release must be true or false, got 'no'"):
        presets(tmp_path)
    shipped_flags = {(p.hold_needs_release, p.hold_after_suspension) for p in presets().values()}
    assert shipped_flags == {(True, False)}
