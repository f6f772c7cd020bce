"""The deployment check says a release may go out to a tier exactly when /v1/check would let that
tier use the model: the same answer as the policy snapshot built from governance, state by state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import LIVE, make_signed_model

from govern.governance.access import live_snapshot
from govern.governance.deployable import deployable
from govern.governance.red_team import Participant, mitigate_finding, record_exercise, record_finding
from govern.governance.registry import register_version, retire_model
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.models.base import utcnow

TIERS = ("free", "verified", "trusted", "internal")


def signed_for_trusted(session):  # type: ignore[no-untyped-def]
    """open-gov, in the group `open` (the policy grants free and up `generate`), signed off for trusted."""
    return make_signed_model(session, "open-gov", group="open", tier="trusted")


def reversed_(session) -> None:  # type: ignore[no-untyped-def]
    model, signed = signed_for_trusted(session)
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="no")


def expired(session) -> None:  # type: ignore[no-untyped-def]
    _model, signed = signed_for_trusted(session)
    signed.expires_at = datetime(2025, 1, 1, tzinfo=UTC)
    session.commit()


def suspended(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    suspend_model(session, actor="user:boss", model=model, reason="abuse")


def retired(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    retire_model(session, actor="user:alice", model=model, reason="withdrawn")


def new_version(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    register_version(session, actor="user:alice", model=model, version="2.0")


@pytest.mark.parametrize(("arrange", "expected"), [
    (signed_for_trusted, {"free": False, "verified": False, "trusted": True, "internal": True}),
    (reversed_, {"free": False, "verified": False, "trusted": False, "internal": True}),
    (expired, {"free": False, "verified": False, "trusted": False, "internal": True}),
    (suspended, {"free": False, "verified": False, "trusted": False, "internal": False}),
    (retired, {"free": False, "verified": False, "trusted": False, "internal": False}),
    (new_version, {"free": False, "verified": False, "trusted": False, "internal": True}),
])
def test_the_check_agrees_with_the_decision_plane(session, arrange, expected):
    arrange(session)
    now = utcnow()
    answers = {tier: deployable(session, name="open-gov", tier=tier, now=now, facts=LIVE).deployable
               for tier in TIERS}
    assert answers == expected
    snapshot = live_snapshot(session)
    assert {tier: snapshot.decide_tier(tier, "open-gov", "generate").allow for tier in TIERS} == expected



def test_an_open_high_red_team_finding_holds_back_a_release_the_sign_off_still_serves(session):
    # Recorded after the sign-off: callers stay open (the sign-off is in force), but a pipeline
    # asking to ship is told no until the finding is mitigated or accepted.
    model, _signed = signed_for_trusted(session)
    exercise = record_exercise(session, actor="user:rt", model=model, scope="jailbreaks",
                               started_on=date(2026, 11, 2), participants=[Participant(name="Eve Ext")])
    finding = record_finding(session, actor="user:rt", exercise=exercise, title="DAN prompt",
                             category="jailbreak", severity="high")
    answer = deployable(session, name="open-gov", tier="trusted", now=utcnow(), facts=LIVE)
    assert [reason.code for reason in answer.reasons] == ["open_red_team_findings"]
    assert "DAN prompt" in answer.reasons[0].message
    assert live_snapshot(session).decide_tier("trusted", "open-gov", "generate").allow is True
    assert deployable(session, name="open-gov", tier="internal", now=utcnow(), facts=LIVE).deployable is True
    mitigate_finding(session, actor="user:rt", finding=finding, mitigation="filter added")
    assert deployable(session, name="open-gov", tier="trusted", now=utcnow(), facts=LIVE).deployable is True


def test_a_checklist_no_longer_complete_or_an_overdue_re_review_holds_back_a_release(session):
    _model, signed = signed_for_trusted(session)
    assert deployable(session, name="open-gov", tier="trusted", now=utcnow(), facts=LIVE).deployable
    # The live checks run now: without the decision log healthy the checklist is not complete.
    unhealthy = replace(LIVE, decision_logging=False)
    answer = deployable(session, name="open-gov", tier="trusted", now=utcnow(), facts=unhealthy)
    assert [reason.code for reason in answer.reasons] == ["checklist_incomplete"]
    # Signed off 91 days ago under a preset that re-reviews every 90: overdue.
    signed.created_at = utcnow() - timedelta(days=91)
    session.commit()
    answer = deployable(session, name="open-gov", tier="trusted", now=utcnow(), facts=LIVE)
    assert [reason.code for reason in answer.reasons] == ["re_review_overdue"]
