"""Incidents: open one, keep its timeline (every change and note is an audit event of
`incident:<id>`), act from it (kill switch, key and organisation suspensions, revocations) or link
an action already taken, and the post-incident review by a quorum of distinct reviewers, without
which a suspension made for the incident is not lifted (govern.identity.incident_holds).

States: open -> mitigated -> resolved -> closed; an incident that is not closed may go back to open.
Closing needs the post-incident review. The review is recorded once the incident is mitigated or
resolved, by people other than the one who opened it (separation of duties), each person once
whatever their accounts; `review_quorum` is the highest `review_quorum` of the affected models'
presets (the default preset's when none is named), raised when a model is suspended for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.timeline import events_for_target
from govern.errors import Conflict, Forbidden, InvalidInput, NotFound, echo
from govern.governance.changes import commit_change, note_change
from govern.governance.presets import DEFAULT_PRESET, get_preset
from govern.governance.registry import newest_version
from govern.governance.reviews import SEPARATION_OF_DUTIES
from govern.governance.suspension import note_suspension
from govern.identity import keys, organisations
from govern.identity.people import is_among, person_key
from govern.models import AuditEvent, Incident, IncidentAction, IncidentReview, Organisation
from govern.models.base import get_or_not_found, utcnow
from govern.models.incident import CLOSED, MITIGATED, OPEN, RESOLVED, SEVERITIES, STATES

MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_AFFECTED = 50
MODEL_SUSPEND, KEY_SUSPEND = "model.suspend", "key.suspend"
KEY_REVOKE, ORG_SUSPEND = "key.revoke", "org.suspend"
ACTION_KINDS = (MODEL_SUSPEND, KEY_SUSPEND, KEY_REVOKE, ORG_SUSPEND)
# Where each state may go next (closing also needs the post-incident review).
NEXT_STATES = {OPEN: (MITIGATED, RESOLVED), MITIGATED: (OPEN, RESOLVED), RESOLVED: (OPEN, CLOSED), CLOSED: ()}
REVIEWABLE = (MITIGATED, RESOLVED)


def incident_target(incident_id: int) -> str:
    return f"incident:{incident_id}"


def _text(value: str, what: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required", code=f"missing_{what.replace(' ', '_')}")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters", code="text_too_long")
    return value


def _severity(value: str) -> str:
    if value not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)} (sev1 is the most severe), "
                           f"not {echo(value)}", code="unknown_severity")
    return value


def _names(values: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(names) > MAX_AFFECTED:
        raise InvalidInput(f"name at most {MAX_AFFECTED} of each", code="too_many_affected")
    return names


def incident_facts(incident: Incident) -> dict[str, Any]:
    return {"id": incident.id, "title": incident.title, "severity": incident.severity,
            "state": incident.state, "affected_models": incident.affected_models,
            "affected_orgs": incident.affected_orgs, "affected_keys": incident.affected_keys,
            "review_quorum": incident.review_quorum}


def open_incident(session: Session, *, actor: str, title: str, severity: str, description: str = "",
                  models: Sequence[str] = (), orgs: Sequence[str] = (), key_prefixes: Sequence[str] = (),
                  commit: bool = True) -> Incident:
    """A new incident in state open. Affected models must be under governance, organisations
    exist (by name) and keys exist (by prefix). Notifies the escalation path (incident.opened).

    Raises InvalidInput, NotFound (model_not_found, org_not_found, key_not_found)."""
    model_names, org_names, prefixes = _names(models), _names(orgs), _names(key_prefixes)
    quorums = [get_preset(newest_version(session, name).preset).review_quorum for name in model_names]
    for name in org_names:
        organisations.find_org(session, name)
    for prefix in prefixes:
        keys.find_key(session, prefix)
    incident = Incident(title=_text(title, "title", MAX_TITLE), severity=_severity(severity),
                        description=_text(description, "description", MAX_TEXT, required=False),
                        state=OPEN, affected_models=model_names, affected_orgs=org_names,
                        affected_keys=prefixes, opened_by=actor, opened_at=utcnow(),
                        review_quorum=max(quorums, default=get_preset(DEFAULT_PRESET).review_quorum))
    session.add(incident)
    session.flush()  # the id, for the event's target
    note_change(session, actor=actor, action="incident.open", target=incident_target(incident.id),
                after={**incident_facts(incident), "description": incident.description})
    if commit:
        session.commit()
    return incident


def get_incident(session: Session, incident_id: int) -> Incident:
    return get_or_not_found(session, Incident, incident_id, f"no incident {incident_id}",
                            "incident_not_found")


def list_incidents(session: Session, state: str | None = None, *, limit: int = 200) -> list[Incident]:
    """Incidents, newest first; with `state`, only those in it."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", code="unknown_state")
    query = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Incident.state == state)
    return list(session.execute(query).scalars())


def check_not_closed(incident: Incident) -> None:
    if incident.state == CLOSED:
        raise Conflict(f"incident {incident.id} is closed", code="incident_closed")


def add_note(session: Session, *, actor: str, incident: Incident, text: str) -> None:
    """A note on the incident's timeline."""
    check_not_closed(incident)
    commit_change(session, actor=actor, action="incident.note", target=incident_target(incident.id),
                  after={"text": _text(text, "note", MAX_TEXT)})


def change_severity(session: Session, *, actor: str, incident: Incident, severity: str,
                    note: str = "") -> None:
    """Notifies the escalation path again (incident.updated)."""
    check_not_closed(incident)
    if _severity(severity) == incident.severity:
        raise Conflict(f"incident {incident.id} is already {severity}", code="severity_unchanged")
    before = incident.severity
    incident.severity = severity
    commit_change(session, actor=actor, action="incident.severity", target=incident_target(incident.id),
                  before={"severity": before},
                  after={"severity": severity, "title": incident.title,
                         "note": _text(note, "note", MAX_TEXT, required=False)})


def check_transition(incident: Incident, state: str) -> None:
    """Raises as change_state would, changing nothing."""
    if state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", code="unknown_state")
    if state not in NEXT_STATES[incident.state]:
        raise Conflict(f"incident {incident.id} is {incident.state}: it cannot become {state}",
                       code="invalid_transition")
    if state == CLOSED and incident.reviewed_at is None:
        raise Conflict("the incident is closed only after its post-incident review by "
                       f"{incident.review_quorum} reviewers", code="post_incident_review_required")


def change_state(session: Session, *, actor: str, incident: Incident, state: str, note: str = "") -> None:
    """Move the incident on (NEXT_STATES). Closing needs the post-incident review.

    Raises InvalidInput (unknown state), Conflict (not allowed from here; review missing)."""
    check_transition(incident, state)
    before = incident.state
    incident.state = state
    if state == CLOSED:
        incident.closed_at = utcnow()
    commit_change(session, actor=actor, action="incident.state", target=incident_target(incident.id),
                  before={"state": before},
                  after={"state": state, "title": incident.title, "severity": incident.severity,
                         "note": _text(note, "note", MAX_TEXT, required=False)})


# -- actions -------------------------------------------------------------------------------------


def _link(session: Session, *, actor: str, incident: Incident, kind: str, target: str,
          event_id: int | None, holds: bool, taken_here: bool) -> IncidentAction:
    action = IncidentAction(incident_id=incident.id, kind=kind, target=target, audit_event_id=event_id,
                            holds=holds, linked_by=actor, linked_at=utcnow())
    session.add(action)
    session.flush()
    note_change(session, actor=actor, action="incident.action", target=incident_target(incident.id),
                after={"id": action.id, "kind": kind, "target": target, "audit_event_id": event_id,
                       "holds": holds, "taken_here": taken_here})
    return action


def _newest_event(session: Session, target: str) -> int:
    return session.execute(select(AuditEvent.id).where(AuditEvent.target == target)
                           .order_by(AuditEvent.id.desc()).limit(1)).scalar_one()


def suspend_model_for(session: Session, *, actor: str, incident: Incident, model_name: str,
                      reason: str) -> IncidentAction:
    """The kill switch for `model_name`, taken for the incident in one transaction: lifting it then
    waits for the post-incident review. Raises as suspend_model does, NotFound, Conflict (closed)."""
    check_not_closed(incident)
    model = newest_version(session, model_name)
    event = note_suspension(session, actor=actor, model=model,
                            reason=f"incident #{incident.id}: {reason.strip()}" if reason.strip() else "")
    session.flush()
    if model.name not in incident.affected_models:
        incident.affected_models = [*incident.affected_models, model.name]
    incident.review_quorum = max(incident.review_quorum, get_preset(model.preset).review_quorum)
    action = _link(session, actor=actor, incident=incident, kind=MODEL_SUSPEND, target=event.target,
                   event_id=event.id, holds=True, taken_here=True)
    session.commit()
    return action


def suspend_key_for(session: Session, *, actor: str, incident: Incident, prefix: str) -> IncidentAction:
    """Suspend a key for the incident (its hold is committed with the suspension)."""
    return _identity_action(session, actor=actor, incident=incident, kind=KEY_SUSPEND, target=f"key:{prefix}",
                            act=lambda: keys.update_key(session, prefix, actor=actor, suspended=True),
                            check=lambda: _key_not_suspended(session, prefix))


def revoke_key_for(session: Session, *, actor: str, incident: Incident, prefix: str) -> IncidentAction:
    """Revoke a key for the incident (final: nothing to hold)."""
    return _identity_action(session, actor=actor, incident=incident, kind=KEY_REVOKE, target=f"key:{prefix}",
                            act=lambda: keys.revoke_key(session, prefix, actor=actor),
                            check=lambda: _key_not_revoked(session, prefix))


def suspend_org_for(session: Session, *, actor: str, incident: Incident, org: str) -> IncidentAction:
    """Suspend an organisation (by name) for the incident; a suspension never widens access, so it
    applies at once, as through the organisation page."""
    found = organisations.find_org(session, org)
    org_id = found.id
    return _identity_action(session, actor=actor, incident=incident, kind=ORG_SUSPEND, target=f"org:{org_id}",
                            act=lambda: organisations.update_org(session, org_id, actor=actor,
                                                                 suspended=True),
                            check=lambda: _org_not_suspended(found.suspended, found.name))


def _key_not_suspended(session: Session, prefix: str) -> None:
    key = keys.find_key(session, prefix)
    if key.revoked_at is not None:
        raise Conflict(f"key {prefix} is revoked", code="key_revoked")
    if key.suspended:
        raise Conflict(f"key {prefix} is already suspended", code="already_suspended")


def _key_not_revoked(session: Session, prefix: str) -> None:
    if keys.find_key(session, prefix).revoked_at is not None:
        raise Conflict(f"key {prefix} is already revoked", code="key_revoked")


def _org_not_suspended(suspended: bool, name: str) -> None:
    if suspended:
        raise Conflict(f"organisation {name} is already suspended", code="already_suspended")


def _identity_action(session: Session, *, actor: str, incident: Incident, kind: str, target: str,
                     act: Callable[[], object], check: Callable[[], None]) -> IncidentAction:
    check_not_closed(incident)
    check()
    # The row that holds the lift goes in first, so the identity service's commit carries it with
    # the suspension; the event naming the change follows in a second transaction.
    row = IncidentAction(incident_id=incident.id, kind=kind, target=target, audit_event_id=None,
                         holds=kind != KEY_REVOKE, linked_by=actor, linked_at=utcnow())
    session.add(row)
    try:
        act()
    except Exception:
        session.rollback()  # the row must not ride on a later commit
        raise
    row.audit_event_id = _newest_event(session, target)
    commit_change(session, actor=actor, action="incident.action", target=incident_target(incident.id),
                  after={"id": row.id, "kind": kind, "target": target, "audit_event_id": row.audit_event_id,
                         "holds": row.holds, "taken_here": True})
    return row


def link_action(session: Session, *, actor: str, incident: Incident, audit_event_id: int) -> IncidentAction:
    """Link an action already taken, by its audit event: a model suspension, a key suspension or
    revocation, an organisation suspension. A suspension still in force is held as if taken here.

    Raises NotFound (no such event), InvalidInput (not such an action), Conflict (linked already)."""
    check_not_closed(incident)
    event = session.get(AuditEvent, audit_event_id)
    if event is None:
        raise NotFound(f"no audit event {audit_event_id}", code="event_not_found")
    kind, in_force = _action_of(session, event)
    linked = session.execute(select(IncidentAction.id).where(
        IncidentAction.incident_id == incident.id, IncidentAction.audit_event_id == event.id)).scalar()
    if linked is not None:
        raise Conflict(f"event {event.id} is already linked to incident {incident.id}", code="already_linked")
    action = _link(session, actor=actor, incident=incident, kind=kind, target=event.target,
                   event_id=event.id, holds=in_force and kind != KEY_REVOKE, taken_here=False)
    session.commit()
    return action


def _action_of(session: Session, event: AuditEvent) -> tuple[str, bool]:
    """(kind, whether the suspension it made is still in force) of a linkable event."""
    before, after = event.before or {}, event.after or {}
    name = event.target.partition(":")[2]
    if event.action == "model.suspend":
        return MODEL_SUSPEND, newest_version(session, name).suspended and _newest_switch(session, event)
    if event.action == "key.revoke":
        return KEY_REVOKE, False
    became_suspended = after.get("suspended") is True and before.get("suspended") is False
    if event.action == "key.update" and became_suspended:
        return KEY_SUSPEND, keys.find_key(session, name).suspended and _newest_switch(session, event)
    if event.action == "org.update" and became_suspended:
        org = session.get(Organisation, int(name)) if name.isdigit() else None
        return ORG_SUSPEND, bool(org is not None and org.suspended and _newest_switch(session, event))
    raise InvalidInput(f"event {event.id} ({event.action}) is not a suspension or revocation",
                       code="not_linkable")


def _newest_switch(session: Session, event: AuditEvent) -> bool:
    """Whether no later event of the target lifted (or otherwise changed) what `event` suspended."""
    later = session.execute(select(AuditEvent).where(AuditEvent.target == event.target,
                                                     AuditEvent.id > event.id,
                                                     AuditEvent.action.in_(("model.lift_suspension",
                                                                            "key.update", "org.update"))))
    return all((e.after or {}).get("suspended", True) is not False for e in later.scalars())


def incident_actions(session: Session, incident: Incident) -> list[IncidentAction]:
    return list(session.execute(select(IncidentAction).where(IncidentAction.incident_id == incident.id)
                                .order_by(IncidentAction.id)).scalars())


# -- post-incident review ------------------------------------------------------------------------


def record_review(session: Session, *, actor: str, incident: Incident, findings: str) -> IncidentReview:
    """One reviewer's post-incident review. Once `review_quorum` distinct people have reviewed,
    the incident is reviewed: its suspensions may be lifted and it may be closed.

    Raises Conflict (incident still open or closed; reviewed already), Forbidden (the opener),
    InvalidInput (no findings)."""
    if incident.state not in REVIEWABLE:
        raise Conflict(f"incident {incident.id} is {incident.state}: the post-incident review comes once it "
                       "is mitigated or resolved", code="not_reviewable")
    text = _text(findings, "findings", MAX_TEXT)
    if is_among(session, actor, [incident.opened_by]):
        raise Forbidden("separation of duties: you opened this incident, so you cannot review it",
                        code=SEPARATION_OF_DUTIES)
    reviews = incident_reviews(session, incident)
    if is_among(session, actor, (review.reviewer for review in reviews)):
        raise Conflict("you have reviewed this incident already (with this or another of your accounts)",
                       code="already_reviewed")
    review = IncidentReview(incident_id=incident.id, reviewer=actor, findings=text, created_at=utcnow())
    session.add(review)
    session.flush()
    people = {person_key(session, r.reviewer) for r in [*reviews, review]}
    completed = incident.reviewed_at is None and len(people) >= incident.review_quorum
    if completed:
        incident.reviewed_at = review.created_at
    note_change(session, actor=actor, action="incident.review", target=incident_target(incident.id),
                after={"id": review.id, "findings": text, "reviewers": len(people),
                       "quorum": incident.review_quorum, "complete": incident.reviewed_at is not None})
    session.commit()
    return review


def incident_reviews(session: Session, incident: Incident) -> list[IncidentReview]:
    return list(session.execute(select(IncidentReview).where(IncidentReview.incident_id == incident.id)
                                .order_by(IncidentReview.id)).scalars())


def timeline(session: Session, incident: Incident) -> list[AuditEvent]:
    """Every change and note of the incident, oldest first."""
    return list(reversed(events_for_target(session, incident_target(incident.id))))
