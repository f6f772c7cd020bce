"""The feedback triage queue: reports from POST /v1/feedback, filterable by state, model and
category; marking one triaged or dismissed, opening an incident from it or joining it to one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from govern.admin.access import ANY_ROLE, CHANGERS, actor, holds, html_errors, roles_required
from govern.admin.incident_forms import FromReportForm, JoinForm, TriageForm
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance import feedback
from govern.governance.incidents import get_incident
from govern.models.feedback_report import CATEGORIES, NEW, STATES

bp = Blueprint("feedback", __name__, url_prefix="/feedback")
html_errors(bp)
REPORT = "<int(max=2147483647):report_id>"


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    args = request.args
    state = args.get("state", NEW) or None
    state = state if state in STATES else None
    category = args.get("category") or None
    category = category if category in CATEGORIES else None
    model = (args.get("model") or "").strip() or None
    reports = feedback.list_reports(current_session(), state=state, model=model, category=category)
    return render_template("feedback/list.html", reports=reports, state=state, model=model, category=category,
                           states=STATES, categories=CATEGORIES, triage=TriageForm(formdata=None),
                           open_form=FromReportForm(formdata=None), join=JoinForm(formdata=None),
                           holds=holds, changers=CHANGERS)


def _back() -> Response:
    return redirect(request.referrer if request.referrer and "/feedback" in request.referrer
                    else url_for(".index"))


@bp.post(f"/{REPORT}/triage")
@roles_required(*CHANGERS)
def triage(report_id: int) -> Response:
    form = TriageForm()
    if form.validate_on_submit():
        try:
            feedback.triage_report(current_session(), actor=actor(), report=feedback.get_report(
                current_session(), report_id), state=form.state.data, note=form.note.data or "")
            flash(f"Report {report_id} is {form.state.data}.", "done")
        except GovernError as error:
            current_session().rollback()
            flash(error.message, "danger")
    else:
        flash("the form expired; reload the page and try again", "danger")
    return _back()


@bp.post(f"/{REPORT}/incident")
@roles_required(*CHANGERS)
def open_incident(report_id: int) -> Response:
    form = FromReportForm()
    if not form.validate_on_submit():
        flash("give the incident a title and a severity", "danger")
        return _back()
    session = current_session()
    try:
        report = feedback.get_report(session, report_id)
        incident = feedback.open_incident_from(session, actor=actor(), report=report, title=form.title.data,
                                               severity=form.severity.data)
    except GovernError as error:
        session.rollback()
        flash(error.message, "danger")
        return _back()
    flash(f"Opened incident #{incident.id} from report {report_id}; the escalation path is notified.", "done")
    return redirect(url_for("incidents.detail", incident_id=incident.id))


@bp.post(f"/{REPORT}/join")
@roles_required(*CHANGERS)
def join(report_id: int) -> Response:
    form = JoinForm()
    if not form.validate_on_submit():
        flash("name the incident by its number", "danger")
        return _back()
    session = current_session()
    try:
        incident = get_incident(session, form.incident_id.data)
        feedback.join_incident(session, actor=actor(), report=feedback.get_report(session, report_id),
                               incident=incident)
    except GovernError as error:
        session.rollback()
        flash(error.message, "danger")
        return _back()
    flash(f"Report {report_id} joined incident #{incident.id}.", "done")
    return _back()
