"""Feedback and abuse reports (POST /v1/feedback): what a client or a gateway reports about one
decision (the output, the prompt, something else), by decision id or request id, with a category
and an optional text; stored for triage (govern.governance.feedback).

Who may report: an enforcement-point (pep) key, on any decision; a client key, only on a decision
of its own organisation (another organisation's decision is as unknown to it as a made-up id).
Bounds, so that an abusive caller cannot fill the disk: the text is at most MAX_TEXT characters,
and a key files at most DAILY_CAP reports in any 24 hours (429 past it). A request id is looked
up among the decisions of the last REQUEST_ID_DAYS days (the newest one with it), by the time-
ordered primary key, so the lookup never walks the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from govern.decisions.query import id_at
from govern.errors import InvalidInput, NotFound, TooManyRequests, echo
from govern.identity.directory import KeyEntry
from govern.models import Decision, FeedbackReport
from govern.models.api_key import PEP
from govern.models.feedback_report import CATEGORIES, MAX_TEXT, NEW, SUBJECTS

DAILY_CAP = 200
REQUEST_ID_DAYS = 7


@dataclass(frozen=True)
class FeedbackIn:
    decision_id: str | None
    request_id: str | None
    subject: str
    category: str
    text: str = ""


def check_report(report: FeedbackIn) -> None:
    """Raises InvalidInput for a report that names no decision, or an unknown subject or category,
    or a text over MAX_TEXT characters."""
    if not report.decision_id and not report.request_id:
        raise InvalidInput("name the decision: decision_id or request_id", code="missing_decision")
    if report.subject not in SUBJECTS:
        raise InvalidInput(f"subject must be one of {', '.join(SUBJECTS)}, not {echo(report.subject)}",
                           code="unknown_subject")
    if report.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}, not {echo(report.category)}",
                           code="unknown_category")
    if len(report.text) > MAX_TEXT:
        raise InvalidInput(f"text is at most {MAX_TEXT} characters, not {len(report.text)}",
                           code="text_too_long")


def _decision(session: Session, by: KeyEntry, report: FeedbackIn, now: datetime) -> Decision | None:
    own = by.kind == PEP
    if report.decision_id:
        found = session.get(Decision, report.decision_id)
        if found is not None and report.request_id and found.request_id != report.request_id:
            return None
        return found if found is not None and (own or found.org_id == by.org_id) else None
    query = (select(Decision).where(Decision.decision_id >= id_at(now - timedelta(days=REQUEST_ID_DAYS)),
                                    Decision.request_id == report.request_id)
             .order_by(Decision.decision_id.desc()).limit(1))
    if not own:
        query = query.where(Decision.org_id == by.org_id)
    return session.execute(query).scalar()


def record_feedback(engine: Engine, by: KeyEntry, report: FeedbackIn, now: datetime) -> FeedbackReport:
    """Store `report`, made with key `by`, in state new. Raises InvalidInput (see check_report),
    NotFound (decision_not_found: no such decision `by` may report on), TooManyRequests
    (feedback_limit: DAILY_CAP reached)."""
    check_report(report)
    with Session(engine, expire_on_commit=False) as session:
        filed = session.execute(select(func.count()).select_from(FeedbackReport).where(
            FeedbackReport.reported_by == by.prefix,
            FeedbackReport.received_at >= now - timedelta(days=1))).scalar_one()
        if filed >= DAILY_CAP:
            raise TooManyRequests(f"this key has filed {DAILY_CAP} reports in the last 24 hours; "
                                  "try again later", code="feedback_limit")
        decision = _decision(session, by, report, now)
        if decision is None:
            named = report.decision_id or report.request_id
            raise NotFound(f"no decision {echo(named)} this key may report on", code="decision_not_found")
        stored = FeedbackReport(
            decision_id=decision.decision_id, request_id=decision.request_id, model=decision.model,
            org_id=decision.org_id, key_prefix=decision.key_prefix, subject=report.subject,
            category=report.category, text=report.text, reported_by=by.prefix, reporter_kind=by.kind,
            received_at=now, state=NEW, triage_note="")
        session.add(stored)
        session.commit()
        return stored


def feedback_dict(report: FeedbackReport) -> dict[str, object]:
    return {"id": report.id, "decision_id": report.decision_id, "request_id": report.request_id,
            "model": report.model, "subject": report.subject, "category": report.category,
            "text": report.text, "state": report.state, "incident_id": report.incident_id,
            "received_at": report.received_at.isoformat()}
