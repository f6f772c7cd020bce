"""Governance API for incidents and feedback triage, with exactly the UI's rules (they are the
services'): open and update an incident, act for it or link an action, its post-incident review;
the feedback queue, triage, opening or joining an incident from a report."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from govern.api.admin_body import json_body
from govern.api.auth import identify, require_role
from govern.api.body import field
from govern.errors import Forbidden, InvalidInput, NotFound
from govern.extensions import current_session
from govern.governance import feedback, incidents
from govern.identity.people import person_key
from govern.identity.users import ROLES
from govern.models import AuditEvent, FeedbackReport, Incident, IncidentAction, IncidentReview

bp = Blueprint("governance_incidents", __name__, url_prefix="/v1/governance")

MAX_ID = 2**31 - 1
CHANGERS = ("admin", "reviewer", "approver", "board")
ACTION_ROLES = {incidents.MODEL_SUSPEND: ("admin", "approver"), incidents.KEY_SUSPEND: ("admin",),
                incidents.KEY_REVOKE: ("admin",), incidents.ORG_SUSPEND: ("admin",)}
BODY_LIMIT = 64 * 1024


@bp.url_value_preprocessor
def _id_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name in ("incident_id", "report_id"):
        value = (values or {}).get(name)
        if isinstance(value, int) and value > MAX_ID:
            thing = "incident" if name == "incident_id" else "feedback"
            raise NotFound(f"no {thing} {value}", code=f"{thing}_not_found")


def _strings(body: dict[str, Any], name: str) -> list[str]:
    values = field(body, name, list, required=False, default=[], nullable=False)
    if not all(isinstance(value, str) and len(value) <= 200 for value in values):
        raise InvalidInput(f"field {name!r} must be an array of names (strings of at most 200 characters)",
                           code="invalid_field")
    return values  # type: ignore[no-any-return]


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = field(body, name, str, required=required, default="", nullable=False)
    return value  # type: ignore[no-any-return]


def incident_dict(incident: Incident) -> dict[str, object]:
    return {**incidents.incident_facts(incident), "description": incident.description,
            "opened_by": incident.opened_by, "opened_at": incident.opened_at.isoformat(),
            "reviewed_at": incident.reviewed_at.isoformat() if incident.reviewed_at else None,
            "closed_at": incident.closed_at.isoformat() if incident.closed_at else None}


def action_dict(action: IncidentAction) -> dict[str, object]:
    return {"id": action.id, "kind": action.kind, "target": action.target,
            "audit_event_id": action.audit_event_id, "holds": action.holds, "linked_by": action.linked_by,
            "linked_at": action.linked_at.isoformat()}


def review_dict(review: IncidentReview) -> dict[str, object]:
    return {"id": review.id, "reviewer": review.reviewer, "findings": review.findings,
            "created_at": review.created_at.isoformat()}


def event_dict(event: AuditEvent) -> dict[str, object]:
    return {"id": event.id, "at": event.created_at.isoformat(), "actor": event.actor, "action": event.action,
            "before": event.before, "after": event.after}


def _whole(incident: Incident) -> dict[str, object]:
    session = current_session()
    reviews = incidents.incident_reviews(session, incident)
    return {**incident_dict(incident),
            "actions": [action_dict(a) for a in incidents.incident_actions(session, incident)],
            "reviews": [review_dict(r) for r in reviews],
            "reviewers": len({person_key(session, r.reviewer) for r in reviews}),
            "timeline": [event_dict(e) for e in incidents.timeline(session, incident)],
            "feedback": [report_dict(r) for r in feedback.list_reports(session, incident_id=incident.id)]}


def report_dict(report: FeedbackReport) -> dict[str, object]:
    return {"id": report.id, "decision_id": report.decision_id, "request_id": report.request_id,
            "model": report.model, "org_id": report.org_id, "subject": report.subject,
            "category": report.category, "text": report.text, "reported_by": report.reported_by,
            "reporter_kind": report.reporter_kind, "received_at": report.received_at.isoformat(),
            "state": report.state, "incident_id": report.incident_id, "triaged_by": report.triaged_by,
            "triage_note": report.triage_note}


def _created(payload: dict[str, object]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


@bp.get("/incidents")
@require_role(*ROLES)
def list_incidents() -> Response:
    state = request.args.get("state") or None
    found = incidents.list_incidents(current_session(), state)
    return jsonify({"incidents": [incident_dict(incident) for incident in found]})


@bp.post("/incidents")
@require_role(*CHANGERS)
def open_incident() -> Response:
    body = json_body(BODY_LIMIT)
    incident = incidents.open_incident(
        current_session(), actor=g.actor, title=field(body, "title", str, max_length=200),
        severity=field(body, "severity", str, max_length=10), description=_text(body, "description"),
        models=_strings(body, "models"), orgs=_strings(body, "organisations"),
        key_prefixes=_strings(body, "keys"))
    return _created(_whole(incident))


@bp.get("/incidents/<int:incident_id>")
@require_role(*ROLES)
def show_incident(incident_id: int) -> Response:
    return jsonify(_whole(incidents.get_incident(current_session(), incident_id)))


@bp.patch("/incidents/<int:incident_id>")
@require_role(*CHANGERS)
def update_incident(incident_id: int) -> Response:
    """Severity and/or state, with an optional note; the severity first."""
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    body = json_body(BODY_LIMIT)
    severity = field(body, "severity", str, required=False, nullable=False, max_length=10)
    state = field(body, "state", str, required=False, nullable=False, max_length=20)
    note = _text(body, "note")
    if severity is None and state is None:
        raise InvalidInput("give a severity or a state", code="missing_field")
    if state is not None:
        incidents.check_transition(incident, state)  # both or neither
    if severity is not None:
        incidents.change_severity(session, actor=g.actor, incident=incident, severity=severity, note=note)
    if state is not None:
        incidents.change_state(session, actor=g.actor, incident=incident, state=state, note=note)
    return jsonify(_whole(incident))


@bp.post("/incidents/<int:incident_id>/notes")
@require_role(*CHANGERS)
def add_note(incident_id: int) -> Response:
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    incidents.add_note(session, actor=g.actor, incident=incident,
                       text=field(json_body(BODY_LIMIT), "text", str, max_length=10_000))
    return _created(_whole(incident))


@bp.post("/incidents/<int:incident_id>/actions")
@require_role("admin", "approver")
def take_action(incident_id: int) -> Response:
    """Either {"audit_event_id"} (link an action already taken) or {"kind", "target", "reason"}."""
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    body = json_body(BODY_LIMIT)
    event_id = field(body, "audit_event_id", int, required=False, nullable=False)
    if event_id is not None:
        if not 1 <= event_id <= MAX_ID:
            raise NotFound(f"no audit event {event_id}", code="event_not_found")
        return _created(action_dict(incidents.link_action(session, actor=g.actor, incident=incident,
                                                          audit_event_id=event_id)))
    kind = field(body, "kind", str, max_length=40)
    if kind not in ACTION_ROLES:
        raise InvalidInput(f"kind must be one of {', '.join(ACTION_ROLES)}, or give audit_event_id",
                           code="unknown_action")
    if not set(ACTION_ROLES[kind]) & identify()[1]:  # a key or organisation action is an admin's
        raise Forbidden(f"this needs the role {' or '.join(ACTION_ROLES[kind])}", code="role_required")
    target = field(body, "target", str, max_length=200)
    if kind == incidents.MODEL_SUSPEND:
        action = incidents.suspend_model_for(session, actor=g.actor, incident=incident, model_name=target,
                                             reason=field(body, "reason", str, max_length=900))
    elif kind == incidents.KEY_SUSPEND:
        action = incidents.suspend_key_for(session, actor=g.actor, incident=incident, prefix=target)
    elif kind == incidents.KEY_REVOKE:
        action = incidents.revoke_key_for(session, actor=g.actor, incident=incident, prefix=target)
    else:
        action = incidents.suspend_org_for(session, actor=g.actor, incident=incident, org=target)
    return _created(action_dict(action))


@bp.post("/incidents/<int:incident_id>/reviews")
@require_role("reviewer")
def review_incident(incident_id: int) -> Response:
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    findings = field(json_body(BODY_LIMIT), "findings", str, max_length=10_000)
    review = incidents.record_review(session, actor=g.actor, incident=incident, findings=findings)
    return _created({**review_dict(review), "incident": incident_dict(incident)})


@bp.get("/feedback")
@require_role(*ROLES)
def list_feedback() -> Response:
    args = request.args
    incident = args.get("incident_id", type=int)
    reports = feedback.list_reports(current_session(), state=args.get("state") or None,
                                    model=args.get("model") or None, category=args.get("category") or None,
                                    incident_id=incident if incident is not None and 0 < incident <= MAX_ID
                                    else None)
    return jsonify({"reports": [report_dict(r) for r in reports]})


@bp.post("/feedback/<int:report_id>/triage")
@require_role(*CHANGERS)
def triage_feedback(report_id: int) -> Response:
    session = current_session()
    report = feedback.get_report(session, report_id)
    body = json_body(BODY_LIMIT)
    feedback.triage_report(session, actor=g.actor, report=report,
                           state=field(body, "state", str, max_length=20), note=_text(body, "note"))
    return jsonify(report_dict(report))


@bp.post("/feedback/<int:report_id>/incident")
@require_role(*CHANGERS)
def feedback_incident(report_id: int) -> Response:
    """{"incident_id"} joins the report to that incident; {"title", "severity"} opens a new one."""
    session = current_session()
    report = feedback.get_report(session, report_id)
    body = json_body(BODY_LIMIT)
    incident_id = field(body, "incident_id", int, required=False, nullable=False)
    if incident_id is not None:
        if not 1 <= incident_id <= MAX_ID:
            raise NotFound(f"no incident {incident_id}", code="incident_not_found")
        incident = incidents.get_incident(session, incident_id)
        feedback.join_incident(session, actor=g.actor, report=report, incident=incident)
        return jsonify(_whole(incident))
    incident = feedback.open_incident_from(
        session, actor=g.actor, report=report, title=field(body, "title", str, max_length=200),
        severity=field(body, "severity", str, max_length=10), description=_text(body, "description"))
    return _created(_whole(incident))
