"""Incidents: the list, opening one, its page (facts, actions, post-incident review, timeline) and
what is done from it: notes, severity and state, the kill switch, key and organisation actions,
linking an action already taken, the review. Errors come back as a message on the page."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from govern.admin.access import ANY_ROLE, CHANGERS, actor, holds, html_errors, roles_required
from govern.admin.incident_forms import (
    IncidentForm,
    IncidentReviewForm,
    KeyActionForm,
    LinkForm,
    NoteForm,
    OrgActionForm,
    SeverityForm,
    StateForm,
    SuspendModelForm,
)
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance import incidents
from govern.governance.feedback import list_reports
from govern.governance.registry import list_models
from govern.identity.people import person_key
from govern.models import Incident
from govern.models.incident import STATES

bp = Blueprint("incidents", __name__, url_prefix="/incidents")
html_errors(bp)
INVALID = 400
INCIDENT = "<int(max=2147483647):incident_id>"


def _names(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    return _index(IncidentForm(formdata=None))[0]


def _index(form: IncidentForm, status: int = 200) -> tuple[str, int]:
    state = request.args.get("state") or None
    chosen = state if state in STATES else None
    found = incidents.list_incidents(current_session(), chosen)
    return render_template("incidents/list.html", incidents=found,
                           state=chosen, states=STATES, form=form, holds=holds, changers=CHANGERS), status


@bp.post("")
@roles_required(*CHANGERS)
def create() -> Response | tuple[str, int]:
    form = IncidentForm()
    if not form.validate_on_submit():
        return _index(form, INVALID)
    try:
        incident = incidents.open_incident(
            current_session(), actor=actor(), title=form.title.data, severity=form.severity.data,
            description=form.description.data or "", models=_names(form.models.data),
            orgs=_names(form.orgs.data), key_prefixes=_names(form.keys.data))
    except GovernError as error:
        current_session().rollback()
        form.form_errors.append(error.message)
        return _index(form, INVALID)
    flash(f"Opened incident #{incident.id}; the escalation path is notified.", "done")
    return redirect(url_for(".detail", incident_id=incident.id))


@bp.get(f"/{INCIDENT}")
@roles_required(*ANY_ROLE)
def detail(incident_id: int) -> str:
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    model_form = SuspendModelForm(formdata=None, prefix="suspend")
    names = sorted({model.name for model in list_models(session)})
    model_form.model.choices = ([n for n in incident.affected_models if n in names]
                                + [n for n in names if n not in incident.affected_models])
    state_form = StateForm(formdata=None, prefix="state")
    state_form.state.choices = list(incidents.NEXT_STATES[incident.state])
    reviews = incidents.incident_reviews(session, incident)
    return render_template(
        "incidents/detail.html", incident=incident, actions=incidents.incident_actions(session, incident),
        reviews=reviews, reviewers=len({person_key(session, r.reviewer) for r in reviews}),
        events=incidents.timeline(session, incident), reports=list_reports(session, incident_id=incident.id),
        note_form=NoteForm(formdata=None, prefix="note"),
        severity_form=SeverityForm(formdata=None, prefix="severity", severity=incident.severity),
        state_form=state_form, model_form=model_form,
        key_form=KeyActionForm(formdata=None, prefix="key"),
        org_form=OrgActionForm(formdata=None, prefix="org"),
        link_form=LinkForm(formdata=None, prefix="link"),
        review_form=IncidentReviewForm(formdata=None, prefix="review"),
        next_states=incidents.NEXT_STATES[incident.state], holds=holds, changers=CHANGERS)


def _act(incident_id: int, form: FlaskForm, act: Callable[[Incident], str]) -> Response:
    """Validate `form`, run `act` on the incident and come back to its page with what happened."""
    session = current_session()
    incident = incidents.get_incident(session, incident_id)
    if not form.validate_on_submit():
        errors = [f"{form[name].label.text}: {'; '.join(messages)}" for name, messages in form.errors.items()
                  if name in form]
        flash("; ".join(errors) or "the form expired; reload the page and try again", "danger")
        return redirect(url_for(".detail", incident_id=incident_id))
    try:
        flash(act(incident), "done")
    except GovernError as error:
        session.rollback()
        flash(error.message, "danger")
    return redirect(url_for(".detail", incident_id=incident_id))


@bp.post(f"/{INCIDENT}/notes")
@roles_required(*CHANGERS)
def note(incident_id: int) -> Response:
    form = NoteForm(prefix="note")

    def act(incident: Incident) -> str:
        incidents.add_note(current_session(), actor=actor(), incident=incident, text=form.text.data)
        return "Note added."

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/severity")
@roles_required(*CHANGERS)
def severity(incident_id: int) -> Response:
    form = SeverityForm(prefix="severity")

    def act(incident: Incident) -> str:
        incidents.change_severity(current_session(), actor=actor(), incident=incident,
                                  severity=form.severity.data, note=form.note.data or "")
        return f"Severity is now {incident.severity}; the escalation path is notified."

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/state")
@roles_required(*CHANGERS)
def state(incident_id: int) -> Response:
    form = StateForm(prefix="state")

    def act(incident: Incident) -> str:
        incidents.change_state(current_session(), actor=actor(), incident=incident, state=form.state.data,
                               note=form.note.data or "")
        return f"The incident is {incident.state}."

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/suspend-model")
@roles_required("admin", "approver")
def suspend_model(incident_id: int) -> Response:
    form = SuspendModelForm(prefix="suspend")
    form.model.choices = sorted({model.name for model in list_models(current_session())})

    def act(incident: Incident) -> str:
        incidents.suspend_model_for(current_session(), actor=actor(), incident=incident,
                                    model_name=form.model.data, reason=form.reason.data)
        return (f"Suspended {form.model.data} for incident #{incident.id}: every caller is denied it. "
                "The suspension is lifted only after the post-incident review.")

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/key")
@roles_required("admin")
def key_action(incident_id: int) -> Response:
    form = KeyActionForm(prefix="key")

    def act(incident: Incident) -> str:
        prefix = form.prefix.data.strip()
        if form.action.data == "revoke":
            incidents.revoke_key_for(current_session(), actor=actor(), incident=incident, prefix=prefix)
            return f"Revoked key {prefix} for incident #{incident.id}."
        incidents.suspend_key_for(current_session(), actor=actor(), incident=incident, prefix=prefix)
        return f"Suspended key {prefix} for incident #{incident.id}, until the post-incident review."

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/org")
@roles_required("admin")
def org_action(incident_id: int) -> Response:
    form = OrgActionForm(prefix="org")

    def act(incident: Incident) -> str:
        name = form.org.data.strip()
        incidents.suspend_org_for(current_session(), actor=actor(), incident=incident, org=name)
        return f"Suspended {name} for incident #{incident.id}, until the post-incident review."

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/link")
@roles_required("admin", "approver")
def link(incident_id: int) -> Response:
    form = LinkForm(prefix="link")

    def act(incident: Incident) -> str:
        linked = incidents.link_action(current_session(), actor=actor(), incident=incident,
                                       audit_event_id=form.audit_event_id.data)
        held = " Lifting it now waits for the post-incident review." if linked.holds else ""
        return f"Linked event {linked.audit_event_id} ({linked.kind} of {linked.target}).{held}"

    return _act(incident_id, form, act)


@bp.post(f"/{INCIDENT}/reviews")
@roles_required("reviewer")
def review(incident_id: int) -> Response:
    form = IncidentReviewForm(prefix="review")

    def act(incident: Incident) -> str:
        incidents.record_review(current_session(), actor=actor(), incident=incident,
                                findings=form.findings.data)
        if incident.reviewed_at is not None:
            return "Review recorded: the post-incident review is complete; its suspensions may be lifted."
        return "Review recorded."

    return _act(incident_id, form, act)
