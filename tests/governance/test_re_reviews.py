"""Scheduled re-reviews: a deployed model is due `re_review_days` after its sign-off or its last
re-review recommending it continue; with `close_when_overdue`, an overdue model is closed as an
expired sign-off is, until a re-review."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from factories import make_governed_model, make_key, ready_sign_off

from govern.decisions.runtime import Question
from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.access_at import access_at
from govern.governance.presets import get_preset, presets
from govern.governance.re_reviews import re_review_status, record_re_review
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off, sign_off_in_force
from govern.identity.people import link_account
from govern.identity.users import create_user
from govern.models import AuditEvent
from govern.models.base import utcnow

DAY = timedelta(days=1)


def deployed(session, *, ago: timedelta = timedelta(0)):  # type: ignore[no-untyped-def]
    """gpt-x rated by user:rita, signed off for verified by user:boss `ago` before now."""
    model = make_governed_model(session, "gpt-x", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="ok")
    return model, ready_sign_off(session, actor="user:boss", model=model, tier="verified", now=utcnow() - ago)


@pytest.fixture
def closing_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 2023 preset as an operator might set it: re-reviewed every 90 days, closed when overdue."""
    monkeypatch.setitem(presets(), "preparedness-2023",
                        dataclasses.replace(get_preset("preparedness-2023"), close_when_overdue=True))


def test_the_shipped_presets_re_review_every_90_days_without_closing() -> None:
    assert {name: (p.re_review_days, p.close_when_overdue) for name, p in presets().items()} == {
        "preparedness-2023": (90, False), "preparedness-2025": (90, False)}


def test_a_deployed_model_is_scheduled_then_due_then_overdue(session):  # type: ignore[no-untyped-def]
    model, signed = deployed(session)
    status = re_review_status(session, model, signed.created_at + 75 * DAY)
    assert status is not None
    assert (status.due_at, status.state) == (signed.created_at + 90 * DAY, "scheduled")
    assert re_review_status(session, model, signed.created_at + 76 * DAY).state == "due"  # type: ignore[union-attr]
    assert re_review_status(session, model, signed.created_at + 90 * DAY).state == "overdue"  # type: ignore[union-attr]
    # Not closing by default: the sign-off stays in force.
    assert sign_off_in_force(session, model, signed.created_at + 200 * DAY).id == signed.id  # type: ignore[union-attr]


def test_a_continue_restarts_the_schedule_and_a_close_does_not(session):  # type: ignore[no-untyped-def]
    model, signed = deployed(session, ago=80 * DAY)
    closing = record_re_review(session, actor="user:rev3", model=model, recommendation="close",
                               rationale="abuse reports rising")
    status = re_review_status(session, model, utcnow())
    assert (status.due_at, status.state, status.recommends_closing) == (  # type: ignore[union-attr]
        signed.created_at + 90 * DAY, "due", True)
    kept = record_re_review(session, actor="user:rev3", model=model, recommendation="continue",
                            rationale="mitigations verified again")
    status = re_review_status(session, model, utcnow())
    assert (status.due_at, status.state, status.recommends_closing) == (  # type: ignore[union-attr]
        kept.created_at + 90 * DAY, "scheduled", False)
    events = [(e.actor, e.action, e.after["recommendation"], e.after["sign_off_id"])
              for e in session.query(AuditEvent).filter(AuditEvent.action == "model.re_review")
              .order_by(AuditEvent.id)]
    assert events == [("user:rev3", "model.re_review", "close", signed.id),
                      ("user:rev3", "model.re_review", "continue", signed.id)]
    assert closing.sign_off_id == signed.id


def test_nobody_re_reviews_what_they_rated_or_signed_off_under_any_account(session):  # type: ignore[no-untyped-def]
    model, _signed = deployed(session)
    boss = create_user(session, actor="test", username="boss", password="a-long-password-123",
                       roles=frozenset({"approver"}))
    other = create_user(session, actor="test", username="boss-at-idp", password="a-long-password-123",
                        roles=frozenset({"reviewer"}))
    link_account(session, actor="user:admin", user_id=other.id, person_id=boss.person_id)
    for actor, said in (("user:rita", "you rated this model"),
                        ("user:boss-at-idp", "you signed this model off")):
        with pytest.raises(Forbidden, match=said) as caught:
            record_re_review(session, actor=actor, model=model, recommendation="continue", rationale="fine")
        assert caught.value.code == "separation_of_duties"
    with pytest.raises(InvalidInput):
        record_re_review(session, actor="user:rev3", model=model, recommendation="maybe", rationale="fine")
    with pytest.raises(InvalidInput):
        record_re_review(session, actor="user:rev3", model=model, recommendation="continue", rationale=" ")


def test_only_a_deployed_model_is_re_reviewed(session):  # type: ignore[no-untyped-def]
    model, signed = deployed(session)
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="no")
    assert re_review_status(session, model, utcnow()) is None
    with pytest.raises(Conflict) as caught:
        record_re_review(session, actor="user:rev3", model=model, recommendation="continue", rationale="fine")
    assert caught.value.code == "not_deployed"


def ask(app, key: str) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question("gpt-x", "generate")], request_id=None,
                               started=time.perf_counter())
    return outcome.allow, outcome.reason.value


@pytest.mark.usefixtures("closing_preset")
def test_an_overdue_model_is_denied_until_re_reviewed_when_the_preset_closes_it(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    model, signed = deployed(session, ago=91 * DAY)
    assert ask(app, key) == (False, "not_signed_off")
    then = access_at(session, model, utcnow())
    assert then.approval is None
    assert then.closed_because is not None and "re-review overdue" in then.closed_because

    record_re_review(session, actor="user:rev3", model=model, recommendation="continue", rationale="fine")
    assert ask(app, key) == (True, "granted_by_tier")
    assert access_at(session, model, utcnow()).allowed("verified", "generate")
    assert sign_off_in_force(session, model, utcnow()).id == signed.id  # type: ignore[union-attr]


@pytest.mark.usefixtures("closing_preset")
def test_a_close_recommendation_does_not_reopen_an_overdue_model(app, session):  # type: ignore[no-untyped-def]
    key = make_key(session, "acme", tier="verified")
    model, _signed = deployed(session, ago=91 * DAY)
    record_re_review(session, actor="user:rev3", model=model, recommendation="close", rationale="no")
    assert ask(app, key) == (False, "not_signed_off")
