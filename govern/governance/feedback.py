"""Triage of feedback and abuse reports (received by POST /v1/feedback, govern.decisions.feedback):
the queue, marking a report triaged or dismissed, opening an incident from it or joining it to one,
and the counts per model the dashboard shows. Every change is audited (`feedback:<id>`; joining an
incident is on the incident's timeline too)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput
from govern.governance.changes import note_change
from govern.governance.incidents import MAX_TEXT, check_not_closed, incident_target, open_incident
from govern.models import FeedbackReport, GovernedModel, Incident, Organisation
from govern.models.base import get_or_not_found, utcnow
from govern.models.feedback_report import CATEGORIES, DISMISSED, LINKED, NEW, STATES, TRIAGED

PAGE = 100
RECENT_DAYS = 7


def feedback_target(report_id: int) -> str:
    return f"feedback:{report_id}"


def get_report(session: Session, report_id: int) -> FeedbackReport:
    return get_or_not_found(session, FeedbackReport, report_id, f"no feedback report {report_id}",
                            "feedback_not_found")


def list_reports(session: Session, *, state: str | None = None, model: str | None = None,
                 category: str | None = None, incident_id: int | None = None,
                 limit: int = PAGE) -> list[FeedbackReport]:
    """The triage queue, newest first, filtered by state, model, category or incident."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", code="unknown_state")
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", code="unknown_category")
    query = select(FeedbackReport).order_by(FeedbackReport.id.desc()).limit(limit)
    for column, value in ((FeedbackReport.state, state), (FeedbackReport.model, model),
                          (FeedbackReport.category, category), (FeedbackReport.incident_id, incident_id)):
        if value is not None:
            query = query.where(column == value)
    return list(session.execute(query).scalars())


def _facts(report: FeedbackReport) -> dict[str, object]:
    return {"state": report.state, "incident_id": report.incident_id, "note": report.triage_note}


def _not_linked(report: FeedbackReport) -> None:
    if report.state == LINKED:
        raise Conflict(f"report {report.id} is linked to incident {report.incident_id} already",
                       code="already_linked")


def triage_report(session: Session, *, actor: str, report: FeedbackReport, state: str,
                  note: str = "") -> None:
    """Mark a report triaged (looked at, kept) or dismissed (nothing to act on), or back to new."""
    if state not in (NEW, TRIAGED, DISMISSED):
        raise InvalidInput("a report is marked new, triaged or dismissed (or joins an incident)",
                           code="unknown_state")
    _not_linked(report)
    if len(note) > MAX_TEXT:
        raise InvalidInput(f"the note is longer than {MAX_TEXT} characters", code="text_too_long")
    before = _facts(report)
    report.state, report.triage_note = state, note.strip()
    report.triaged_by, report.triaged_at = actor, utcnow()
    note_change(session, actor=actor, action="feedback.triage", target=feedback_target(report.id),
                before=before, after=_facts(report))
    session.commit()


def join_incident(session: Session, *, actor: str, report: FeedbackReport, incident: Incident,
                  commit: bool = True) -> None:
    """Link the report to an incident (it leaves the queue as `linked`)."""
    _not_linked(report)
    check_not_closed(incident)
    before = _facts(report)
    report.state, report.incident_id = LINKED, incident.id
    report.triaged_by, report.triaged_at = actor, utcnow()
    note_change(session, actor=actor, action="feedback.link", target=feedback_target(report.id),
                before=before, after=_facts(report))
    note_change(session, actor=actor, action="incident.feedback", target=incident_target(incident.id),
                after={"feedback_id": report.id, "decision_id": report.decision_id, "model": report.model,
                       "category": report.category, "subject": report.subject})
    if commit:
        session.commit()


def open_incident_from(session: Session, *, actor: str, report: FeedbackReport, title: str,
                       severity: str, description: str = "") -> Incident:
    """A new incident from the report, affecting its model (when under governance) and its
    organisation, with the report joined to it; one transaction."""
    _not_linked(report)
    governed = report.model is not None and session.execute(
        select(GovernedModel.id).where(GovernedModel.name == report.model).limit(1)).scalar() is not None
    org = session.get(Organisation, report.org_id) if report.org_id is not None else None
    incident = open_incident(session, actor=actor, title=title, severity=severity,
                             description=description or report.text,
                             models=[report.model] if governed and report.model else [],
                             orgs=[org.name] if org is not None else [], commit=False)
    join_incident(session, actor=actor, report=report, incident=incident, commit=False)
    session.commit()
    return incident


@dataclass(frozen=True)
class ModelFeedback:
    model: str
    new: int  # reports waiting for triage
    recent: int  # reports received in the last RECENT_DAYS days


def feedback_counts(session: Session, now: datetime | None = None) -> list[ModelFeedback]:
    """Per model with any new or recent report: how many wait for triage and how many came in the
    last RECENT_DAYS days; most waiting first."""
    now = now or utcnow()
    waiting: Counter[str | None] = Counter({model: count for model, count in session.execute(
        select(FeedbackReport.model, func.count()).where(FeedbackReport.state == NEW)
        .group_by(FeedbackReport.model))})
    recent: Counter[str | None] = Counter({model: count for model, count in session.execute(
        select(FeedbackReport.model, func.count())
        .where(FeedbackReport.received_at >= now - timedelta(days=RECENT_DAYS))
        .group_by(FeedbackReport.model))})
    models = sorted(set(waiting) | set(recent), key=lambda m: (-waiting[m], -recent[m], m or ""))
    return [ModelFeedback(model or "(no model)", waiting[model], recent[model]) for model in models]
