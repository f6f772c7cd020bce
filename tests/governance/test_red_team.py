"""Red-team exercises and findings: open findings of high severity or above block the sign-off
until mitigated, or accepted by a reviewer who did not report them (people, not accounts)."""

from __future__ import annotations

from datetime import date

import pytest
from factories import LIVE, make_governed_model, make_launch_ready, ready_sign_off
from sqlalchemy import text

from govern.audit.live_state import check_live_state
from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.red_team import (
    Participant,
    accept_finding,
    blocking_findings,
    mitigate_finding,
    record_exercise,
    record_finding,
    reopen_finding,
)
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import check_sign_off
from govern.identity.people import link_account
from govern.identity.users import create_user
from govern.models import AuditEvent, RatingEvidence

PASSWORD = "a-long-password-123"


def account(session, username: str, *roles: str):  # type: ignore[no-untyped-def]
    return create_user(session, actor="test:setup", username=username, password=PASSWORD,
                       roles=frozenset(roles))


def ready_model(session, name: str = "gov-model"):  # type: ignore[no-untyped-def]
    """Rated medium by rita, recommended for verified by rev1 and rev2: only the red team stands
    between it and a sign-off by boss."""
    model = make_governed_model(session, name, post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="safe for verified")
    make_launch_ready(session, model)
    return model


def exercise_of(session, model, actor: str = "user:rt"):  # type: ignore[no-untyped-def]
    return record_exercise(session, actor=actor, model=model, scope="jailbreaks of the chat API",
                           started_on=date(2026, 11, 2), ended_on=date(2026, 11, 20),
                           participants=[Participant(name="Eve Ext", organisation="Red Co")])


def high_finding(session, model, reporter: str = "user:rt", severity: str = "high"):  # type: ignore[no-untyped-def]
    return record_finding(session, actor=reporter, exercise=exercise_of(session, model), title="DAN prompt",
                          category="jailbreak", severity=severity)


def blocked(session, model) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict) as caught:
        check_sign_off(session, actor="user:boss", model=model, tier="verified")
    assert caught.value.code == "open_red_team_findings"
    return caught.value.message


def test_an_exercise_keeps_scope_dates_and_internal_and_external_participants(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    account(session, "ivy", "reviewer")
    exercise = record_exercise(session, actor="user:rt", model=model, scope="tool misuse",
                               started_on=date(2026, 11, 2), ended_on=None,
                               participants=[Participant(user="user:ivy"),
                                             Participant(name="Eve Ext", organisation="Red Co")])
    event = session.query(AuditEvent).filter_by(action="red_team.exercise").one()
    assert (event.target, event.actor) == ("model:gov-model", "user:rt")
    assert event.after == {"exercise": exercise.id, "model_id": model.id, "version": "1.0",
                           "scope": "tool misuse", "started_on": "2026-11-02", "ended_on": None,
                           "participants": [
                               {"user": "user:ivy", "name": "ivy", "organisation": "", "kind": "internal"},
                               {"user": None, "name": "Eve Ext", "organisation": "Red Co",
                                "kind": "external"}]}


@pytest.mark.parametrize(("given", "code"), [
    ({"participants": []}, "missing_participant"),
    ({"participants": [Participant(user="nobody")]}, "unknown_participant"),
    ({"participants": [Participant(name=" ")]}, "missing_participant"),
    ({"scope": " "}, "missing_scope"),
    ({"ended_on": date(2026, 11, 1)}, "ends_before_start"),
])
def test_an_exercise_needs_scope_sane_dates_and_real_participants(session, given, code):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    options = {"scope": "s", "started_on": date(2026, 11, 2), "ended_on": None,
               "participants": [Participant(name="Eve")], **given}
    with pytest.raises(InvalidInput) as caught:
        record_exercise(session, actor="user:rt", model=model, **options)
    assert caught.value.code == code


def test_a_finding_takes_a_preset_or_red_team_category_and_a_known_severity(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    exercise = exercise_of(session, model)
    assert record_finding(session, actor="user:rt", exercise=exercise, title="t", category="cbrn",
                          severity="low").status == "open"
    for category, severity, code in (("astrology", "low", "unknown_category"),
                                     ("jailbreak", "severe", "unknown_severity")):
        with pytest.raises(InvalidInput) as caught:
            record_finding(session, actor="user:rt", exercise=exercise, title="t", category=category,
                           severity=severity)
        assert caught.value.code == code


def test_an_open_high_finding_blocks_the_sign_off_and_is_named(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    finding = high_finding(session, model)
    assert blocked(session, model) == (
        "open red-team findings of high severity or above, until mitigated or accepted by a reviewer who "
        f"did not report them: #{finding.id} 'DAN prompt' (high, found in 1.0)")
    with pytest.raises(Conflict, match="open red-team findings"):
        ready_sign_off(session, actor="user:boss", model=model, tier="verified")


def test_open_findings_below_high_do_not_block(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    high_finding(session, model, severity="medium")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"


def test_a_mitigated_finding_unblocks_and_a_reopened_one_blocks_again(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    finding = high_finding(session, model, severity="critical")
    with pytest.raises(InvalidInput) as caught:
        mitigate_finding(session, actor="user:rt", finding=finding, mitigation="  ")
    assert caught.value.code == "missing_mitigation"
    mitigate_finding(session, actor="user:rt", finding=finding, mitigation="refusal classifier v3")
    assert check_sign_off(session, actor="user:boss", model=model, tier="verified", facts=LIVE) is None
    reopen_finding(session, actor="user:rev1", finding=finding, reason="bypassed again with base64")
    assert (finding.status, finding.resolution, finding.resolved_by) == ("open", "", None)
    assert "(critical, found in 1.0)" in blocked(session, model)


def test_a_reviewer_who_did_not_report_it_accepts_a_high_finding_with_a_rationale(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    account(session, "vera", "reviewer")
    finding = high_finding(session, model)
    with pytest.raises(InvalidInput) as caught:
        accept_finding(session, actor="user:vera", finding=finding, rationale=" ")
    assert caught.value.code == "missing_rationale"
    accept_finding(session, actor="user:vera", finding=finding, rationale="needs an insider; monitored")
    assert (finding.status, finding.resolved_by) == ("accepted", "user:vera")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"


def test_the_reporter_cannot_accept_their_own_finding_with_another_account(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    reporter = account(session, "rhea", "reviewer")
    second = account(session, "rhea-sso", "reviewer")
    link_account(session, actor="test:setup", user_id=second.id, person_id=reporter.person_id)
    finding = high_finding(session, model, reporter="user:rhea")
    for actor in ("user:rhea", "user:rhea-sso"):
        with pytest.raises(Forbidden) as caught:
            accept_finding(session, actor=actor, finding=finding, rationale="fine by me")
        assert caught.value.code == "separation_of_duties"
    assert finding.status == "open"


def test_only_a_reviewer_accepts_a_high_finding_but_anyone_may_accept_a_low_one(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    account(session, "adam", "admin", "approver")
    high = high_finding(session, model)
    with pytest.raises(Forbidden) as caught:
        accept_finding(session, actor="user:adam", finding=high, rationale="ship it")
    assert caught.value.code == "role_required"
    low = high_finding(session, model, severity="low")
    assert accept_finding(session, actor="user:adam", finding=low, rationale="cosmetic").status == "accepted"
    with pytest.raises(Conflict) as again:
        mitigate_finding(session, actor="user:adam", finding=low, mitigation="x")
    assert again.value.code == "finding_not_open"


def test_a_finding_on_another_model_does_not_block(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    high_finding(session, make_governed_model(session, "other-model"), severity="critical")
    assert blocking_findings(session, model) == []
    assert check_sign_off(session, actor="user:boss", model=model, tier="verified", facts=LIVE) is None


def test_an_open_finding_of_an_earlier_version_blocks_the_new_one(session):  # type: ignore[no-untyped-def]
    from govern.governance.registry import register_version

    old = make_governed_model(session)
    finding = high_finding(session, old)
    new = register_version(session, actor="test:admin", model=old, version="2.0")
    assert [b.id for b in blocking_findings(session, new)] == [finding.id]


def test_a_finding_accepted_by_a_direct_database_write_still_blocks_and_is_named(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    finding = high_finding(session, model)
    session.execute(text("UPDATE red_team_finding SET status = 'accepted', resolved_by = 'user:x' "
                         "WHERE id = :id"), {"id": finding.id})
    session.commit()
    session.expire_all()
    assert f"#{finding.id} 'DAN prompt'" in blocked(session, model)
    assert check_live_state(session).problems == [
        f"red_team_finding {finding.id} of model gov-model: status is 'accepted' but the trail says 'open'",
        f"red_team_finding {finding.id} of model gov-model: resolved_by is 'user:x' but the trail says empty"]


def test_a_deleted_finding_still_blocks_and_is_named(session):  # type: ignore[no-untyped-def]
    model = ready_model(session)
    finding_id = high_finding(session, model).id
    session.execute(text("DELETE FROM red_team_finding WHERE id = :id"), {"id": finding_id})
    session.commit()
    session.expire_all()
    assert f"#{finding_id} 'DAN prompt' (high, found in 1.0)" in blocked(session, model)
    assert check_live_state(session).problems == [
        f"red_team_finding {finding_id} of model gov-model is in the trail (event "
        f"{session.query(AuditEvent).filter_by(action='red_team.finding').one().id}) but its row is missing"]


def test_a_rating_cites_exercises_of_its_model_only(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    exercise = exercise_of(session, model)
    foreign = exercise_of(session, make_governed_model(session, "other-model"))
    rating = rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="high",
                           post_level="medium", evidence="see the red team",
                           exercises=[exercise.id, exercise.id])
    assert [(e.rating_id, e.exercise_id) for e in session.query(RatingEvidence)] == [(rating.id, exercise.id)]
    assert session.query(AuditEvent).filter_by(action="model.rate").one().after["exercises"] == [exercise.id]
    with pytest.raises(InvalidInput) as caught:
        rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="high",
                      post_level="medium", evidence="e", exercises=[foreign.id])
    assert caught.value.code == "unknown_exercise"


def test_every_change_is_audited_and_agrees_with_the_trail(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    account(session, "vera", "reviewer")
    finding = high_finding(session, model)
    accept_finding(session, actor="user:vera", finding=finding, rationale="monitored")
    reopen_finding(session, actor="user:rt", finding=finding, reason="new bypass")
    mitigate_finding(session, actor="user:rt", finding=finding, mitigation="patched")
    actions = [e.action for e in session.query(AuditEvent).filter(AuditEvent.action.like("red_team.%"))
               .order_by(AuditEvent.id)]
    assert actions == ["red_team.exercise", "red_team.finding", "red_team.accept", "red_team.reopen",
                       "red_team.mitigate"]
    assert check_live_state(session).problems == []
