"""Each decision traces to the people behind it: its row records the sign-off in force for its model
in the snapshot that decided (or none) and the organisation's name as it was then."""

from __future__ import annotations

import time
from typing import Any

from factories import (
    ACTOR,
    add_models,
    make_governed_model,
    make_key,
    make_pep_key,
    make_signed_model,
    ready_sign_off,
)
from flask import Flask
from sqlalchemy import select, text

from govern.decisions.runtime import Outcome, Question, SubjectQuestion
from govern.governance.holds import release_hold
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.identity.organisations import update_org
from govern.identity.subjects import ORGANISATION, Subject
from govern.models import Decision
from govern.policy.store import change_policy


def runtime(app: Flask) -> Any:
    return app.extensions["govern.runtime"].get()


def ask(app: Flask, key: str, model: str = "gov-model", *, refresh: bool = True) -> Outcome:
    if refresh:
        runtime(app).refresh()
    (outcome,) = runtime(app).check(key, [Question(model, "generate")], request_id=None,
                                    started=time.perf_counter())
    return outcome


def row(session, decision_id: str) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    """(allow, reason, org_name, sign_off_id) as stored."""
    session.commit()  # a fresh read: the writer committed on its own connection
    found = session.execute(select(Decision.allow, Decision.reason, Decision.org_name,
                                   Decision.sign_off_id)
                            .where(Decision.decision_id == decision_id)).one()
    return tuple(found)


def test_a_decision_under_a_sign_off_records_its_id_and_the_organisation(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    _, signed = make_signed_model(session)

    outcome = ask(app, key)

    assert row(session, outcome.decision_id) == (True, "granted_by_tier", "acme", signed.id)


def test_after_the_reversal_the_next_decision_records_none(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session)
    before = ask(app, key)

    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="risk")
    after = ask(app, key)

    assert row(session, after.decision_id) == (False, "not_signed_off", "acme", None)
    assert row(session, before.decision_id) == (True, "granted_by_tier", "acme", signed.id)


def test_an_internal_decision_on_an_unsigned_model_records_none(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "staff", tier="internal")
    make_governed_model(session, "gov-model", group="standard", post="medium")

    outcome = ask(app, key)

    assert row(session, outcome.decision_id) == (True, "granted_by_tier", "staff", None)


def test_a_model_outside_governance_records_no_sign_off(app, session):  # type: ignore[no-untyped-def]
    add_models(session)  # chat-standard, in the same group as the governed model
    key = make_key(session, "acme", tier="verified")
    make_signed_model(session)

    outcome = ask(app, key, "chat-standard")

    assert row(session, outcome.decision_id) == (True, "granted_by_tier", "acme", None)


def test_a_new_sign_off_is_recorded_by_the_decisions_under_it(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    model, first = make_signed_model(session)
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=first.id, rationale="risk")
    for reviewer in ("user:rev3", "user:rev4"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="mitigated")
    release_hold(session, actor="user:bea", model=model, rationale="study reviewed")
    second = ready_sign_off(session, actor="user:boss2", model=model, tier="verified")

    # Answered twice from the new snapshot's memo: both carry the new sign-off, never the old one.
    outcomes = [ask(app, key), ask(app, key, refresh=False)]

    assert [row(session, o.decision_id) for o in outcomes] == [
        (True, "granted_by_tier", "acme", second.id)] * 2
    assert second.id != first.id


def test_denies_under_a_sign_off_record_it_too(app, session):  # type: ignore[no-untyped-def]
    """A tier below the sign-off, and the kill switch: the state in force is on the row all the same."""
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, tier="trusted")
    below = ask(app, key)
    suspend_model(session, actor="user:ops", model=model, reason="incident")
    suspended = ask(app, key)

    assert row(session, below.decision_id) == (False, "signoff_below_tier", "acme", signed.id)
    assert row(session, suspended.decision_id) == (False, "model_suspended", "acme", signed.id)


def test_the_sign_off_comes_from_the_snapshot_that_decided_not_from_the_database(app, session):  # type: ignore[no-untyped-def]
    """Until the snapshot is rebuilt, decisions follow it, and their rows say what they followed:
    the answer and the recorded sign-off never disagree."""
    key = make_key(session, "acme", tier="verified")
    signed_id = make_signed_model(session)[1].id
    runtime(app).refresh()
    # Behind govern's back: no change counter moves, so no snapshot is rebuilt.
    session.execute(text("DELETE FROM sign_off"))
    session.commit()

    outcome = ask(app, key, refresh=False)

    assert row(session, outcome.decision_id) == (True, "granted_by_tier", "acme", signed_id)


def test_a_renamed_organisation_keeps_its_name_on_earlier_decisions(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    make_signed_model(session)
    before = ask(app, key)

    update_org(session, "acme", actor="user:alice", name="acme-holdings")
    after = ask(app, key)

    assert row(session, before.decision_id)[2] == "acme"
    assert row(session, after.decision_id)[2] == "acme-holdings"


def test_a_rate_limited_decision_records_the_sign_off_in_force(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    _, signed = make_signed_model(session)
    change_policy(session, lambda raw: raw.update(rate_limits={"verified": {"per_minute": 1}}),
                  actor=ACTOR, comment="limits")
    ask(app, key)

    limited = ask(app, key)

    assert row(session, limited.decision_id) == (False, "rate_limited", "acme", signed.id)


def test_an_enforcement_points_question_records_the_sign_off(app, session):  # type: ignore[no-untyped-def]
    pep = make_pep_key(session)
    make_key(session, "acme", tier="verified")
    _, signed = make_signed_model(session)
    runtime(app).refresh()

    (outcome,) = runtime(app).evaluate(
        pep, [SubjectQuestion(Subject(ORGANISATION, "acme"), "model", "gov-model", "generate")],
        request_id=None, started=time.perf_counter())

    assert row(session, outcome.decision_id) == (True, "granted_by_tier", "acme", signed.id)


def test_a_refused_caller_records_no_sign_off(app, session):  # type: ignore[no-untyped-def]
    make_signed_model(session)

    outcome = ask(app, "gvk_000000000000_" + "A" * 43)

    assert row(session, outcome.decision_id) == (False, "key_unknown", None, None)


def test_a_sign_off_whose_scorecard_is_no_longer_deployable_is_not_recorded(app, session):  # type: ignore[no-untyped-def]
    """The sign-off still stands, but a new high rating closes the model: the decision was not
    made under it."""
    key = make_key(session, "acme", tier="verified")
    model, _ = make_signed_model(session)
    rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="critical",
                  post_level="high", evidence="new eval")

    outcome = ask(app, key)

    assert row(session, outcome.decision_id) == (False, "not_signed_off", "acme", None)
