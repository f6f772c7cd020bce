"""The launch checklist: each preset names one, each item has an owner, evidence and a state, live
checks run against the live system at sign-off time, and a sign-off is refused until it is complete."""

from __future__ import annotations

import pytest
from factories import (
    LIVE,
    complete_checklist,
    make_governed_model,
    ready_sign_off,
    set_rate_limits,
)
from sqlalchemy import select, update

from govern.errors import Conflict, Forbidden, InvalidInput, NotFound
from govern.governance.access import governance_access
from govern.governance.checklists import ItemUpdate, checklist_state, update_item, update_items
from govern.governance.live_checks import LiveFacts
from govern.governance.presets import checklists, get_preset, preset_checklist, presets
from govern.governance.registry import register_version
from govern.governance.reviews import record_review
from govern.governance.signoffs import sign_off, sign_off_in_force
from govern.identity.people import link_account
from govern.identity.users import create_user
from govern.models import AuditEvent, ChecklistItem
from govern.models.base import utcnow
from govern.policy.store import change_policy

EIGHT = ["red_team", "content_filters", "rate_limiting", "logging_monitoring", "escalation_path",
         "incident_response", "user_feedback", "safety_audits"]


def reviewed(session, name: str = "gov-model", tier: str = "verified"):  # type: ignore[no-untyped-def]
    """Rated medium by user:rita, two reviewers recommending `tier`: all a sign-off needs but the
    checklist."""
    model = make_governed_model(session, name, post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier, rationale="ok")
    return model


def account(session, username: str):  # type: ignore[no-untyped-def]
    return create_user(session, actor="test:factory", username=username, password="a-long-password-123",
                       roles=frozenset({"reviewer"}))


def refusal(session, model, *, actor: str = "user:boss", tier: str = "verified",  # type: ignore[no-untyped-def]
            facts: LiveFacts | None = LIVE) -> Conflict:
    with pytest.raises(Conflict) as caught:
        sign_off(session, actor=actor, model=model, tier=tier, facts=facts)
    assert caught.value.code == "checklist_incomplete"
    return caught.value


def test_every_preset_names_the_default_checklist_of_the_eight_practices() -> None:
    assert {name: preset.checklist for name, preset in presets().items()} == {
        "preparedness-2023": "default", "preparedness-2025": "default"}
    default = checklists()["default"]
    assert [(item.id, item.title, item.check) for item in default.items] == [
        ("red_team", "Red-team testing done", None),
        ("content_filters", "Content filters in place", None),
        ("rate_limiting", "Rate limiting enabled", "rate_limits"),
        ("logging_monitoring", "Logging and monitoring active", "decision_logging"),
        ("escalation_path", "A human escalation path defined", "escalation"),
        ("incident_response", "An incident response plan ready", None),
        ("user_feedback", "A user-feedback mechanism", "feedback"),
        ("safety_audits", "Regular safety audits scheduled", None),
    ]


def test_a_sign_off_is_refused_until_the_checklist_is_complete_naming_the_missing_items(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    set_rate_limits(session)
    refused = refusal(session, model)
    assert [missing["item"] for missing in refused.details["missing"]] == EIGHT  # type: ignore[union-attr]
    assert "Red-team testing done (open)" in refused.message
    assert "Regular safety audits scheduled (open)" in refused.message

    account(session, "olive")
    update_items(session, actor="user:prep", model=model, updates=[
        ItemUpdate(item, "done", "olive", "report #1") for item in EIGHT if item != "incident_response"])
    refused = refusal(session, model)
    assert refused.details["missing"] == [
        {"item": "incident_response", "title": "An incident response plan ready", "reason": "open"}]
    assert refused.message == ("the launch checklist is not complete: An incident response plan ready (open)")

    update_item(session, actor="user:prep", model=model, item_id="incident_response", state="not_applicable",
                owner=None, evidence="covered by the platform's plan")
    signed = sign_off(session, actor="user:boss", model=model, tier="verified", facts=LIVE)
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "model.sign_off")).scalar_one()
    assert event.after["id"] == signed.id
    assert event.after["checklist"] == {**{item: "done" for item in EIGHT},
                                        "incident_response": "not_applicable"}


def test_an_item_marked_done_while_its_live_check_fails_stays_missing(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    set_rate_limits(session)
    complete_checklist(session, model)
    off = LiveFacts(decision_logging=False, feedback_intake=False, escalation_recipients=(),
                    escalation_webhooks=(2,), decision_logging_detail="the decision log's queue is full")
    assert refusal(session, model, facts=off).details["missing"] == [
        {"item": "logging_monitoring", "title": "Logging and monitoring active",
         "reason": "its live check failed: decision logging is not healthy: "
                   "the decision log's queue is full"},
        {"item": "escalation_path", "title": "A human escalation path defined",
         "reason": "its live check failed: nobody receives incident.opened by e-mail"},
        {"item": "user_feedback", "title": "A user-feedback mechanism",
         "reason": "its live check failed: the feedback intake is off (GOVERN_FEEDBACK_INTAKE)"},
    ]
    # Nothing reported by the caller: every check that needs the running service fails.
    assert [m["item"] for m in refusal(session, model, facts=None).details["missing"]] == [  # type: ignore[union-attr]
        "logging_monitoring", "escalation_path", "user_feedback"]
    assert sign_off(session, actor="user:boss", model=model, tier="verified", facts=LIVE).tier == "verified"


def test_rate_limits_must_be_set_for_every_tier_the_sign_off_opens(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    complete_checklist(session, model)

    def limit(raw: dict) -> None:  # type: ignore[type-arg]
        raw["rate_limits"] = {"trusted": {"per_minute": 60}, "internal": {"per_day": 1000}}

    change_policy(session, limit, actor="user:admin", comment="limits")
    # Verified opens verified, trusted and internal: verified has no limit.
    assert refusal(session, model).details["missing"] == [
        {"item": "rate_limiting", "title": "Rate limiting enabled",
         "reason": "its live check failed: no rate limit for verified in the policy"}]
    # Trusted opens trusted and internal, both limited.
    assert sign_off(session, actor="user:boss", model=model, tier="trusted", facts=LIVE).tier == "trusted"


def test_not_applicable_does_not_excuse_a_failing_live_check(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    complete_checklist(session, model)
    update_item(session, actor="user:prep", model=model, item_id="rate_limiting", state="not_applicable",
                owner=None, evidence="the gateway limits")
    assert [m["item"] for m in refusal(session, model).details["missing"]] == ["rate_limiting"]  # type: ignore[union-attr]


def test_nobody_approves_a_checklist_they_recorded_under_any_of_their_accounts(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    set_rate_limits(session)
    complete_checklist(session, model)
    boss, other = account(session, "boss"), account(session, "boss-at-idp")
    link_account(session, actor="user:admin", user_id=other.id, person_id=boss.person_id)
    update_item(session, actor="user:boss-at-idp", model=model, item_id="red_team", state="done",
                owner="boss", evidence="exercise RT-7")
    with pytest.raises(Forbidden, match="you recorded an item of this model's launch checklist") as caught:
        sign_off(session, actor="user:boss", model=model, tier="verified", facts=LIVE)
    assert caught.value.code == "separation_of_duties"
    signed = sign_off(session, actor="user:carol", model=model, tier="verified", facts=LIVE)
    assert signed.approver == "user:carol"


def test_done_needs_an_owner_and_evidence_and_not_applicable_a_rationale(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    account(session, "olive")
    cases = [
        (dict(item_id="red_team", state="done", owner="olive", evidence=" "), "missing_evidence"),
        (dict(item_id="red_team", state="done", owner=None, evidence="RT-7"), "missing_evidence"),
        (dict(item_id="red_team", state="not_applicable", owner=None, evidence=""), "missing_rationale"),
        (dict(item_id="red_team", state="finished", owner="olive", evidence="RT-7"),
         "invalid_checklist_state"),
        (dict(item_id="no_such_item", state="done", owner="olive", evidence="RT-7"),
         "unknown_checklist_item"),
    ]
    for options, code in cases:
        with pytest.raises(InvalidInput) as caught:
            update_item(session, actor="user:prep", model=model, **options)  # type: ignore[arg-type]
        assert caught.value.code == code
    with pytest.raises(NotFound):
        update_item(session, actor="user:prep", model=model, item_id="red_team", state="done", owner="nobody",
                    evidence="RT-7")
    assert session.execute(select(ChecklistItem)).first() is None
    row = update_item(session, actor="user:prep", model=model, item_id="red_team", state="done",
                      owner="user:olive", evidence="RT-7")
    assert (row.owner, row.state, row.evidence) == ("user:olive", "done", "RT-7")


def test_each_item_change_is_audited_with_before_and_after(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    account(session, "olive")
    update_item(session, actor="user:prep", model=model, item_id="red_team", state="done", owner="olive",
                evidence="RT-7")
    update_item(session, actor="user:prep2", model=model, item_id="red_team", state="open", owner="olive")
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "model.checklist_item")
                             .order_by(AuditEvent.id)).scalars().all()
    done = {"model_id": model.id, "item": "red_team", "state": "done", "owner": "user:olive",
            "evidence": "RT-7"}
    reopened = {"model_id": model.id, "item": "red_team", "state": "open", "owner": "user:olive",
                "evidence": ""}
    named = {"version": "1.0", "title": "Red-team testing done"}
    assert [(e.actor, e.target, e.before, e.after) for e in events] == [
        ("user:prep", "model:gov-model", None, {**done, **named}),
        ("user:prep2", "model:gov-model", done, {**reopened, **named}),
    ]


def test_an_item_written_behind_govern_does_not_count(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    set_rate_limits(session)
    complete_checklist(session, model)
    update_item(session, actor="user:prep", model=model, item_id="red_team", state="open", owner=None)
    session.execute(update(ChecklistItem).where(ChecklistItem.item_id == "red_team")
                    .values(state="done", evidence="trust me"))
    session.commit()
    assert refusal(session, model).details["missing"] == [
        {"item": "red_team", "title": "Red-team testing done",
         "reason": "its record does not match the audit trail"}]


def test_an_item_edited_behind_govern_after_the_sign_off_neither_closes_nor_opens_anything(session):  # type: ignore[no-untyped-def]
    """The checklist is checked when a sign-off is made; the sign-off in force stays as it was, its
    event keeps what it rested on, and a later sign-off sees the tampered row as missing."""
    model = reviewed(session, tier="verified")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    session.execute(update(ChecklistItem).where(ChecklistItem.item_id == "content_filters")
                    .values(state="open"))
    session.commit()
    assert sign_off_in_force(session, model, utcnow()).id == signed.id  # type: ignore[union-attr]
    assert governance_access(session, utcnow())[0]["gov-model"].open_from == "verified"
    assert [m["item"] for m in refusal(session, model, actor="user:boss2").details["missing"]] == [  # type: ignore[union-attr]
        "content_filters"]
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "model.sign_off")).scalar_one()
    assert event.after["checklist"]["content_filters"] == "done"


def test_a_new_version_starts_with_an_open_checklist(session):  # type: ignore[no-untyped-def]
    model = reviewed(session)
    complete_checklist(session, model)
    new = register_version(session, actor="user:admin", model=model, version="2.0")
    state = checklist_state(session, new, tier="verified", facts=LIVE)
    assert [(e.spec.id, e.state, e.complete) for e in state.entries] == [
        (item, "open", False) for item in EIGHT]
    with pytest.raises(Conflict) as caught:
        update_item(session, actor="user:prep", model=model, item_id="red_team", state="open", owner=None)
    assert caught.value.code == "version_superseded"
    assert preset_checklist(get_preset(new.preset)).name == "default"
