"""Red-team exercises and their findings, and the rule that open findings of high severity or above
block a model's sign-off until they are mitigated, or accepted by a reviewer who did not report them.

Findings block every version of the model's name: a new version is no way round an open finding;
it is closed by saying what mitigated it (in that version, say). The gate reads a finding's state
from the audit trail as well as from its row, and blocks if either says it is open and high or
above: a row edited or deleted behind govern's back cannot open the gate (and `govern audit
verify` names the row, see govern.audit.live_state)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.presets import get_preset
from govern.identity.people import ACCOUNT_ACTOR, active_account, is_among
from govern.models import (
    AuditEvent,
    GovernedModel,
    RatingEvidence,
    RedTeamExercise,
    RedTeamFinding,
    RedTeamParticipant,
)
from govern.models.base import get_or_not_found, utcnow
from govern.models.red_team_exercise import ACCEPTED, MITIGATED, OPEN, SEVERITIES

# Categories a finding may have besides the tracked categories of the model's preset.
RED_TEAM_CATEGORIES = {
    "jailbreak": "Jailbreak",
    "prompt_injection": "Prompt injection",
    "data_leak": "Data leak",
    "harmful_content": "Harmful content",
    "privacy": "Privacy",
    "bias": "Bias and fairness",
    "misuse": "Other misuse",
}
BLOCKING = ("high", "critical")  # severities that block a sign-off while open
REVIEWER = "reviewer"
OPEN_FINDINGS = "open_red_team_findings"
ACTIONS = ("red_team.finding", "red_team.mitigate", "red_team.accept", "red_team.reopen")
MAX_TEXT = 10_000
MAX_NAME = 200
MAX_PARTICIPANTS = 50
MAX_EVIDENCE = 20
SLUG = re.compile(r"^[a-z0-9_]{1,100}$")


@dataclass(frozen=True)
class Participant:
    """Internal (`user`: a govern username, with or without `user:`) or external (`name` and,
    optionally, `organisation`)."""

    user: str | None = None
    name: str = ""
    organisation: str = ""


def _text(value: str, label: str, code: str, limit: int = MAX_TEXT) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{label} is required", code=code)
    if len(text) > limit:
        raise InvalidInput(f"{label} is limited to {limit} characters", code="text_too_long")
    return text


def finding_categories(model: GovernedModel) -> dict[str, str]:
    """The categories a finding of `model` may have, id -> name: the preset's tracked categories,
    then the red-team ones."""
    return {**{c.id: c.name for c in get_preset(model.preset).categories}, **RED_TEAM_CATEGORIES}


def _participant(session: Session, given: Participant) -> RedTeamParticipant:
    organisation = given.organisation.strip()
    if len(organisation) > MAX_NAME:
        raise InvalidInput(f"an organisation is limited to {MAX_NAME} characters", code="text_too_long")
    if given.user:
        username = given.user.strip().removeprefix(ACCOUNT_ACTOR)
        account = active_account(session, username)
        if account is None:
            raise InvalidInput(f"no active govern account named {username[:MAX_NAME]!r}: name an "
                               "external participant with their organisation instead",
                               code="unknown_participant")
        return RedTeamParticipant(user=f"{ACCOUNT_ACTOR}{account.username}", name=account.username,
                                  organisation=organisation)
    name = _text(given.name, "a participant's name", "missing_participant", MAX_NAME)
    return RedTeamParticipant(user=None, name=name, organisation=organisation)


def participant_facts(row: RedTeamParticipant) -> dict[str, Any]:
    return {"user": row.user, "name": row.name, "organisation": row.organisation,
            "kind": "internal" if row.user else "external"}


def record_exercise(session: Session, *, actor: str, model: GovernedModel, scope: str, started_on: date,
                    ended_on: date | None = None, participants: Sequence[Participant] = ()
                    ) -> RedTeamExercise:
    """Record a red-team exercise of `model` with at least one participant. Raises InvalidInput."""
    scope = _text(scope, "the scope", "missing_scope")
    if ended_on is not None and ended_on < started_on:
        raise InvalidInput("the exercise cannot end before it started", code="ends_before_start")
    if not participants:
        raise InvalidInput("name at least one participant", code="missing_participant")
    if len(participants) > MAX_PARTICIPANTS:
        raise InvalidInput(f"at most {MAX_PARTICIPANTS} participants", code="too_many_participants")
    rows = [_participant(session, given) for given in participants]
    exercise = RedTeamExercise(model_id=model.id, scope=scope, started_on=started_on, ended_on=ended_on,
                               created_by=actor)
    session.add(exercise)
    session.flush()  # the id, so the event names the row it records
    for row in rows:
        row.exercise_id = exercise.id
        session.add(row)
    commit_change(session, actor=actor, action="red_team.exercise", target=model_target(model.name),
                  after={"exercise": exercise.id, "model_id": model.id, "version": model.version,
                         "scope": scope, "started_on": started_on.isoformat(),
                         "ended_on": ended_on.isoformat() if ended_on else None,
                         "participants": [participant_facts(row) for row in rows]})
    return exercise


def finding_facts(finding: RedTeamFinding) -> dict[str, Any]:
    """What every event of a finding records: its whole state after the change."""
    return {"finding": finding.id, "exercise": finding.exercise_id, "model_id": finding.model_id,
            "title": finding.title, "category": finding.category, "severity": finding.severity,
            "status": finding.status, "reported_by": finding.reported_by,
            "resolution": finding.resolution, "resolved_by": finding.resolved_by}


def _commit_finding(session: Session, *, actor: str, action: str, finding: RedTeamFinding,
                    before: dict[str, Any] | None) -> None:
    model = session.get_one(GovernedModel, finding.model_id)
    commit_change(session, actor=actor, action=action, target=model_target(model.name), before=before,
                  after=finding_facts(finding))


def record_finding(session: Session, *, actor: str, exercise: RedTeamExercise, title: str, category: str,
                   severity: str, description: str = "") -> RedTeamFinding:
    """A finding of `exercise`, open, reported by `actor`. `category` is a tracked category of the
    model's preset or one of RED_TEAM_CATEGORIES. Raises InvalidInput."""
    model = session.get_one(GovernedModel, exercise.model_id)
    title = _text(title, "a title", "missing_title", MAX_NAME)
    categories = finding_categories(model)
    if category not in categories:
        raise InvalidInput(f"category must be one of {', '.join(categories)}", code="unknown_category")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}", code="unknown_severity")
    if len(description) > MAX_TEXT:
        raise InvalidInput(f"the description is limited to {MAX_TEXT} characters", code="text_too_long")
    finding = RedTeamFinding(exercise_id=exercise.id, model_id=model.id, title=title, category=category,
                             severity=severity, description=description.strip(), status=OPEN,
                             reported_by=actor, resolution="")
    session.add(finding)
    session.flush()
    _commit_finding(session, actor=actor, action="red_team.finding", finding=finding, before=None)
    return finding


def _resolve(session: Session, *, actor: str, finding: RedTeamFinding, status: str, text: str,
             action: str) -> RedTeamFinding:
    if finding.status != OPEN:
        raise Conflict(f"finding {finding.id} is {finding.status}, not open: reopen it first",
                       code="finding_not_open")
    before = finding_facts(finding)
    finding.status, finding.resolution = status, text
    finding.resolved_by, finding.resolved_at = actor, utcnow()
    _commit_finding(session, actor=actor, action=action, finding=finding, before=before)
    return finding


def mitigate_finding(session: Session, *, actor: str, finding: RedTeamFinding,
                     mitigation: str) -> RedTeamFinding:
    """Close an open finding by saying what mitigated it. Raises InvalidInput, Conflict."""
    text = _text(mitigation, "a description of the mitigation", "missing_mitigation")
    return _resolve(session, actor=actor, finding=finding, status=MITIGATED, text=text,
                    action="red_team.mitigate")


def holds_role(session: Session, actor: str, role: str) -> bool:
    """Whether `actor` is an active account holding `role` (read afresh, not from a session)."""
    if not actor.startswith(ACCOUNT_ACTOR):
        return False
    account = active_account(session, actor.removeprefix(ACCOUNT_ACTOR))
    return account is not None and role in account.role_set


def accept_finding(session: Session, *, actor: str, finding: RedTeamFinding,
                   rationale: str) -> RedTeamFinding:
    """Accept an open finding as it is, with a rationale. A finding of high severity or above may be
    accepted only by a reviewer who is not the person who reported it (by any of their accounts).
    Raises InvalidInput, Forbidden, Conflict."""
    text = _text(rationale, "a rationale", "missing_rationale")
    if finding.severity in BLOCKING:
        if not holds_role(session, actor, REVIEWER):
            raise Forbidden(f"a {finding.severity} finding can be accepted only by a reviewer",
                            code="role_required")
        if is_among(session, actor, (finding.reported_by,)):
            raise Forbidden("separation of duties: you reported this finding, so you cannot accept it",
                            code="separation_of_duties")
    return _resolve(session, actor=actor, finding=finding, status=ACCEPTED, text=text,
                    action="red_team.accept")


def reopen_finding(session: Session, *, actor: str, finding: RedTeamFinding, reason: str) -> RedTeamFinding:
    """Open a mitigated or accepted finding again (it blocks again if high or above); the reason is
    recorded in its trail. Raises InvalidInput, Conflict."""
    text = _text(reason, "a reason", "missing_reason")
    if finding.status == OPEN:
        raise Conflict(f"finding {finding.id} is already open", code="finding_open")
    before = finding_facts(finding)
    finding.status, finding.resolution, finding.resolved_by, finding.resolved_at = OPEN, "", None, None
    model = session.get_one(GovernedModel, finding.model_id)
    commit_change(session, actor=actor, action="red_team.reopen", target=model_target(model.name),
                  before=before, after={**finding_facts(finding), "reason": text})
    return finding


# -- reading ----------------------------------------------------------------------------------------
def get_exercise(session: Session, exercise_id: int) -> RedTeamExercise:
    return get_or_not_found(session, RedTeamExercise, exercise_id, f"no red-team exercise {exercise_id}",
                            "exercise_not_found")


def get_finding(session: Session, finding_id: int) -> RedTeamFinding:
    return get_or_not_found(session, RedTeamFinding, finding_id, f"no red-team finding {finding_id}",
                            "finding_not_found")


def list_exercises(session: Session, model: GovernedModel) -> list[RedTeamExercise]:
    """The exercises of this version of the model, newest first."""
    return list(session.execute(select(RedTeamExercise).where(RedTeamExercise.model_id == model.id)
                                .order_by(RedTeamExercise.id.desc())).scalars())


def participants_of(session: Session, exercise_ids: Iterable[int]) -> dict[int, list[RedTeamParticipant]]:
    found: dict[int, list[RedTeamParticipant]] = {}
    ids = list(exercise_ids)
    for row in session.execute(select(RedTeamParticipant).where(RedTeamParticipant.exercise_id.in_(ids))
                               .order_by(RedTeamParticipant.id)).scalars():
        found.setdefault(row.exercise_id, []).append(row)
    return found


def findings_of(session: Session, exercise_ids: Iterable[int]) -> dict[int, list[RedTeamFinding]]:
    found: dict[int, list[RedTeamFinding]] = {}
    ids = list(exercise_ids)
    for row in session.execute(select(RedTeamFinding).where(RedTeamFinding.exercise_id.in_(ids))
                               .order_by(RedTeamFinding.id)).scalars():
        found.setdefault(row.exercise_id, []).append(row)
    return found


@dataclass(frozen=True)
class Blocker:
    """An open finding of high severity or above, as the gate sees it."""

    id: int
    title: str
    severity: str
    version: str  # of the model the exercise tested

    def describe(self) -> str:
        return f"#{self.id} {self.title!r} ({self.severity}, found in {self.version})"


def blocking_findings(session: Session, model: GovernedModel) -> list[Blocker]:
    """The open findings of high severity or above of any version of the model, oldest first. A
    finding blocks if its row says so or the newest event of its trail does (so neither an edited
    nor a deleted row opens the gate)."""
    versions = dict(session.execute(select(GovernedModel.id, GovernedModel.version)
                                    .where(GovernedModel.name == model.name)).all())
    by_id: dict[int, Blocker] = {}
    for row in session.execute(select(RedTeamFinding).where(RedTeamFinding.model_id.in_(list(versions)))
                               .order_by(RedTeamFinding.id)).scalars():
        if row.status == OPEN and row.severity in BLOCKING:
            by_id[row.id] = Blocker(row.id, row.title, row.severity, versions.get(row.model_id, "?"))
    newest: dict[int, dict[str, Any]] = {}  # finding id -> its state as its newest event recorded it
    for recorded in session.execute(select(AuditEvent.after).where(
            AuditEvent.target == model_target(model.name), AuditEvent.action.in_(ACTIONS))
            .order_by(AuditEvent.id)).scalars():
        state = recorded if isinstance(recorded, dict) else {}
        finding_id = state.get("finding")
        if isinstance(finding_id, int):
            newest[finding_id] = state
    for finding_id, state in newest.items():
        if state.get("status") == OPEN and state.get("severity") in BLOCKING and finding_id not in by_id:
            model_id = state.get("model_id")
            by_id[finding_id] = Blocker(finding_id, str(state.get("title", "")), str(state["severity"]),
                                        versions.get(model_id, "?") if isinstance(model_id, int) else "?")
    return [by_id[key] for key in sorted(by_id)]


def blocked_reason(blockers: Sequence[Blocker]) -> str:
    return ("open red-team findings of high severity or above, until mitigated or accepted by a "
            "reviewer who did not report them: " + "; ".join(b.describe() for b in blockers))


def check_red_team(session: Session, model: GovernedModel) -> None:
    """Raises Conflict (open_red_team_findings) naming the model's blocking findings, if any."""
    blockers = blocking_findings(session, model)
    if blockers:
        raise Conflict(blocked_reason(blockers), code=OPEN_FINDINGS)


# -- exercises as a rating's evidence ---------------------------------------------------------------
def check_evidence(session: Session, model: GovernedModel, exercise_ids: Sequence[int]) -> list[int]:
    """The exercise ids a rating of `model` cites, deduplicated in order; each must be an exercise
    of some version of the model. Raises InvalidInput."""
    ids = list(dict.fromkeys(exercise_ids))
    if len(ids) > MAX_EVIDENCE:
        raise InvalidInput(f"a rating cites at most {MAX_EVIDENCE} exercises", code="too_many_exercises")
    if not ids:
        return ids
    known = set(session.execute(
        select(RedTeamExercise.id).join(GovernedModel, GovernedModel.id == RedTeamExercise.model_id)
        .where(RedTeamExercise.id.in_(ids), GovernedModel.name == model.name)).scalars())
    unknown = [str(i) for i in ids if i not in known]
    if unknown:
        raise InvalidInput(f"no red-team exercise {', '.join(unknown)} of {model.name}",
                           code="unknown_exercise")
    return ids


def cite_evidence(session: Session, rating_id: int, exercise_ids: Sequence[int]) -> None:
    """Link a rating to the exercises it cites, in the caller's transaction (checked first with
    check_evidence)."""
    for exercise_id in exercise_ids:
        session.add(RatingEvidence(rating_id=rating_id, exercise_id=exercise_id))


def cited_exercises(session: Session, rating_ids: Iterable[int]) -> dict[int, list[RedTeamExercise]]:
    """Rating id -> the exercises it cites, by id."""
    cited: dict[int, list[RedTeamExercise]] = {}
    ids = list(rating_ids)
    for rating_id, exercise in session.execute(
            select(RatingEvidence.rating_id, RedTeamExercise)
            .join(RedTeamExercise, RedTeamExercise.id == RatingEvidence.exercise_id)
            .where(RatingEvidence.rating_id.in_(ids)).order_by(RedTeamExercise.id)):
        cited.setdefault(rating_id, []).append(exercise)
    return cited
