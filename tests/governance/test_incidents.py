"""Incidents: opening, the timeline, acting from the incident or linking an action, the escalation
path's notification, and the rule that a suspension made for an incident is lifted only after a
post-incident review by a quorum of distinct people."""

from __future__ import annotations

import pytest
from factories import make_governed_model, make_key, make_org
from sqlalchemy import delete, select, update

from govern.audit.live_state import check_live_state
from govern.errors import Conflict, Forbidden, InvalidInput, NotFound
from govern.governance import incidents
from govern.governance.suspension import lift_suspension, suspend_model
from govern.identity.keys import find_key, rotate_key, update_key
from govern.identity.organisations import get_org, update_org
from govern.identity.people import link_account
from govern.identity.users import create_user
from govern.models import AuditEvent, Incident, IncidentAction
from govern.models.base import utcnow
from govern.notifications.outbox import event_types

OPENER = "user:olga"


def open_one(session, **options):  # type: ignore[no-untyped-def]
    fields = {"title": "jailbreak seen in the wild", "severity": "sev2",
              "description": "reports from two orgs"}
    return incidents.open_incident(session, actor=OPENER, **{**fields, **options})


def review(session, incident, reviewer: str) -> None:  # type: ignore[no-untyped-def]
    incidents.record_review(session, actor=reviewer, incident=incident,
                            findings=f"{reviewer}: root cause found")


def mitigated(session, incident) -> None:  # type: ignore[no-untyped-def]
    incidents.change_state(session, actor=OPENER, incident=incident, state="mitigated")


def test_an_incident_opens_with_what_it_affects_and_notifies_the_escalation_path(session):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    make_org(session, "acme")
    incident = open_one(session, models=["chat-1"], orgs=["acme"])
    assert (incident.state, incident.severity, incident.review_quorum) == ("open", "sev2", 2)
    assert incident.affected_models == ["chat-1"] and incident.affected_orgs == ["acme"]
    [event] = incidents.timeline(session, incident)
    assert (event.action, event.actor, event.target) == ("incident.open", OPENER, f"incident:{incident.id}")
    assert event_types(session, event) == ["incident.opened"]


def test_unknown_severity_and_unknown_affected_names_are_refused(session):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as caught:
        open_one(session, severity="catastrophic")
    assert caught.value.code == "unknown_severity"
    with pytest.raises(NotFound) as missing:
        open_one(session, models=["no-such-model"])
    assert missing.value.code == "model_not_found"
    assert session.execute(select(Incident)).first() is None


def test_the_timeline_holds_every_change_and_note_in_order(session):  # type: ignore[no-untyped-def]
    incident = open_one(session)
    incidents.add_note(session, actor="user:rev1", incident=incident, text="blocked the prompt pattern")
    incidents.change_severity(session, actor=OPENER, incident=incident, severity="sev1")
    mitigated(session, incident)
    events = incidents.timeline(session, incident)
    assert [(e.action, e.actor) for e in events] == [
        ("incident.open", OPENER), ("incident.note", "user:rev1"), ("incident.severity", OPENER),
        ("incident.state", OPENER)]
    assert events[1].after == {"text": "blocked the prompt pattern"}
    assert event_types(session, events[2]) == ["incident.updated"]


def test_the_kill_switch_from_the_incident_holds_the_lift_until_a_quorum_reviewed(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "chat-1")
    incident = open_one(session)
    action = incidents.suspend_model_for(session, actor="user:ada", incident=incident, model_name="chat-1",
                                         reason="stop the jailbreak")
    assert model.suspended and action.holds and action.target == "model:chat-1"
    assert session.get(AuditEvent, action.audit_event_id).action == "model.suspend"
    assert incident.affected_models == ["chat-1"]

    with pytest.raises(Conflict) as caught:
        lift_suspension(session, actor="user:ada", model=model, reason="fixed")
    assert caught.value.code == "post_incident_review_required"
    assert model.suspended
    mitigated(session, incident)
    review(session, incident, "user:rev1")
    with pytest.raises(Conflict):
        lift_suspension(session, actor="user:ada", model=model, reason="fixed")
    review(session, incident, "user:rev2")
    assert incident.reviewed_at is not None
    lift_suspension(session, actor="user:ada", model=model, reason="fixed")
    assert not model.suspended


def test_two_accounts_of_one_person_are_one_reviewer(session):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    rita = create_user(session, actor="test", username="rita", password="a-long-password-123",
                       roles=frozenset({"reviewer"}))
    other = create_user(session, actor="test", username="rita-sso", password="a-long-password-123",
                        roles=frozenset({"reviewer"}))
    link_account(session, actor="user:admin", user_id=other.id, person_id=rita.person_id)
    incident = open_one(session)
    incidents.suspend_model_for(session, actor="user:ada", incident=incident, model_name="chat-1", reason="x")
    mitigated(session, incident)
    review(session, incident, "user:rita")
    with pytest.raises(Conflict) as caught:
        review(session, incident, "user:rita-sso")
    assert caught.value.code == "already_reviewed"
    assert incident.reviewed_at is None


def test_the_opener_does_not_review_their_own_incident(session):  # type: ignore[no-untyped-def]
    incident = open_one(session)
    mitigated(session, incident)
    with pytest.raises(Forbidden) as caught:
        review(session, incident, OPENER)
    assert caught.value.code == "separation_of_duties"


def test_the_review_waits_for_mitigation_and_closing_waits_for_the_review(session):  # type: ignore[no-untyped-def]
    incident = open_one(session)
    with pytest.raises(Conflict) as early:
        review(session, incident, "user:rev1")
    assert early.value.code == "not_reviewable"
    incidents.change_state(session, actor=OPENER, incident=incident, state="resolved")
    with pytest.raises(Conflict) as caught:
        incidents.change_state(session, actor=OPENER, incident=incident, state="closed")
    assert caught.value.code == "post_incident_review_required"
    review(session, incident, "user:rev1")
    review(session, incident, "user:rev2")
    incidents.change_state(session, actor=OPENER, incident=incident, state="closed")
    with pytest.raises(Conflict) as closed:
        incidents.add_note(session, actor=OPENER, incident=incident, text="late")
    assert closed.value.code == "incident_closed"


def test_a_suspension_already_taken_is_linked_by_its_audit_event_and_then_held(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "chat-1")
    suspend_model(session, actor="user:ada", model=model, reason="odd outputs")
    event_id = session.execute(select(AuditEvent.id).where(AuditEvent.action == "model.suspend")).scalar_one()
    incident = open_one(session)
    action = incidents.link_action(session, actor="user:ada", incident=incident, audit_event_id=event_id)
    assert (action.kind, action.holds, action.audit_event_id) == ("model.suspend", True, event_id)
    with pytest.raises(Conflict) as again:
        incidents.link_action(session, actor="user:ada", incident=incident, audit_event_id=event_id)
    assert again.value.code == "already_linked"
    with pytest.raises(Conflict) as caught:
        lift_suspension(session, actor="user:ada", model=model, reason="fine")
    assert caught.value.code == "post_incident_review_required"


def test_an_event_that_is_no_suspension_is_not_linked(session):  # type: ignore[no-untyped-def]
    incident = open_one(session)
    open_event = incidents.timeline(session, incident)[0]
    with pytest.raises(InvalidInput) as caught:
        incidents.link_action(session, actor="user:ada", incident=incident, audit_event_id=open_event.id)
    assert caught.value.code == "not_linkable"


def test_a_suspension_lifted_before_linking_holds_nothing(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "chat-1")
    suspend_model(session, actor="user:ada", model=model, reason="odd outputs")
    lift_suspension(session, actor="user:ada", model=model, reason="false alarm")
    event_id = session.execute(select(AuditEvent.id).where(AuditEvent.action == "model.suspend")).scalar_one()
    action = incidents.link_action(session, actor="user:ada", incident=open_one(session),
                                   audit_event_id=event_id)
    assert not action.holds
    suspend_model(session, actor="user:ada", model=model, reason="again, unrelated")
    lift_suspension(session, actor="user:ada", model=model, reason="done")


def test_a_key_suspended_for_an_incident_is_not_lifted_before_the_review(session):  # type: ignore[no-untyped-def]
    prefix = make_key(session, "acme", tier="verified")[:16]
    incident = open_one(session)
    action = incidents.suspend_key_for(session, actor="user:ada", incident=incident, prefix=prefix)
    assert find_key(session, prefix).suspended and action.holds
    assert session.get(AuditEvent, action.audit_event_id).action == "key.update"
    with pytest.raises(Conflict) as caught:
        update_key(session, prefix, actor="user:ada", suspended=False)
    assert caught.value.code == "post_incident_review_required"
    assert find_key(session, prefix).suspended
    with pytest.raises(Conflict) as rotated:  # its successor would start unsuspended
        rotate_key(session, prefix, actor="user:ada", old_valid_until=utcnow())
    assert rotated.value.code == "post_incident_review_required"
    mitigated(session, incident)
    review(session, incident, "user:rev1")
    review(session, incident, "user:rev2")
    assert not update_key(session, prefix, actor="user:ada", suspended=False).suspended


def test_an_organisation_suspended_for_an_incident_is_not_lifted_before_the_review(session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme")
    incident = open_one(session)
    incidents.suspend_org_for(session, actor="user:ada", incident=incident, org="acme")
    assert get_org(session, org_id).suspended
    with pytest.raises(Conflict) as caught:
        update_org(session, org_id, actor="user:ada", suspended=False)
    assert caught.value.code == "post_incident_review_required"


def test_a_direct_edit_of_the_review_flag_is_what_the_rule_reads(session):  # type: ignore[no-untyped-def]
    """The hold is the row, not a cache: clearing reviewed_at in the database holds the lift again."""
    model = make_governed_model(session, "chat-1")
    incident = open_one(session)
    incidents.suspend_model_for(session, actor="user:ada", incident=incident, model_name="chat-1", reason="x")
    mitigated(session, incident)
    review(session, incident, "user:rev1")
    review(session, incident, "user:rev2")
    session.execute(update(Incident).where(Incident.id == incident.id).values(reviewed_at=None))
    session.commit()
    with pytest.raises(Conflict):
        lift_suspension(session, actor="user:ada", model=model, reason="fixed")


def test_the_escalation_path_is_every_admin_reviewer_approver_and_board_member(session):  # type: ignore[no-untyped-def]
    from govern.identity.people import update_person
    from govern.notifications.preferences import recipients

    for name, role in (("ada", "admin"), ("rita", "reviewer"), ("bea", "board"), ("audrey", "auditor")):
        user = create_user(session, actor="test", username=name, password="a-long-password-123",
                           roles=frozenset({role}))
        update_person(session, actor="test", person_id=user.person_id, email=f"{name}@example.org")
    escalation = ["ada@example.org", "bea@example.org", "rita@example.org"]
    assert recipients(session, "incident.opened") == escalation
    assert recipients(session, "incident.updated") == escalation


def test_a_hold_deleted_or_a_review_faked_in_the_database_is_named_by_the_live_state_check(session):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    held, faked = open_one(session), open_one(session, title="second")
    action = incidents.suspend_model_for(session, actor="user:ada", incident=held, model_name="chat-1",
                                         reason="x")
    assert check_live_state(session).problems == []
    session.execute(delete(IncidentAction).where(IncidentAction.id == action.id))
    session.execute(update(Incident).where(Incident.id == faked.id).values(reviewed_at=utcnow()))
    session.commit()
    problems = check_live_state(session).problems
    assert problems[0].startswith(f"incident_action {action.id} of incident:{held.id} holds a suspension in "
                                  "the trail (event ")
    assert problems[1].startswith(f"incident {faked.id}: reviewed_at is ")
    assert problems[1].endswith("but the trail has no post-incident review reaching its quorum")
    assert len(problems) == 2
