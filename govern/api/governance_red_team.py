"""Governance API for red-team exercises and findings, with the UI's rules (they live in
govern.governance.red_team): reviewers and admins record exercises and findings, mitigate and
reopen them; accepting a finding of high severity or above needs a reviewer who did not report it."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, g, jsonify

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.errors import InvalidInput, NotFound
from govern.extensions import current_session
from govern.governance import red_team
from govern.governance.registry import find_model
from govern.identity.users import ROLES
from govern.models import GovernedModel, RedTeamExercise, RedTeamFinding

bp = Blueprint("governance_red_team", __name__, url_prefix="/v1/governance")

MAX_ID = 2**31 - 1
RECORDERS = ("reviewer", "admin")


@bp.url_value_preprocessor
def _id_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name in ("exercise_id", "finding_id"):
        value = (values or {}).get(name)
        if isinstance(value, int) and value > MAX_ID:
            thing = name.removesuffix("_id")
            raise NotFound(f"no red-team {thing} {value}", code=f"{thing}_not_found")


def finding_dict(finding: RedTeamFinding) -> dict[str, Any]:
    return {"id": finding.id, "exercise_id": finding.exercise_id, "title": finding.title,
            "category": finding.category, "severity": finding.severity, "description": finding.description,
            "status": finding.status, "reported_by": finding.reported_by, "resolution": finding.resolution,
            "resolved_by": finding.resolved_by,
            "resolved_at": finding.resolved_at.isoformat() if finding.resolved_at else None,
            "created_at": finding.created_at.isoformat()}


def exercise_dict(exercise: RedTeamExercise) -> dict[str, Any]:
    session = current_session()
    model = session.get_one(GovernedModel, exercise.model_id)
    participants = red_team.participants_of(session, [exercise.id]).get(exercise.id, [])
    findings = red_team.findings_of(session, [exercise.id]).get(exercise.id, [])
    return {"id": exercise.id, "model": model.name, "version": model.version, "scope": exercise.scope,
            "started_on": exercise.started_on.isoformat(),
            "ended_on": exercise.ended_on.isoformat() if exercise.ended_on else None,
            "created_by": exercise.created_by, "created_at": exercise.created_at.isoformat(),
            "participants": [red_team.participant_facts(p) for p in participants],
            "findings": [finding_dict(f) for f in findings]}


def _date(body: dict[str, Any], name: str) -> date | None:
    """An optional ISO date (YYYY-MM-DD)."""
    raw = field(body, name, str, required=False, max_length=10)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"field {name!r} must be a date such as 2026-11-30",
                           code="invalid_field") from None


def _missing(name: str) -> date:
    raise InvalidInput(f"field {name!r} is required", code="missing_field")


def _participants(body: dict[str, Any]) -> list[red_team.Participant]:
    given: list[Any] = field(body, "participants", list)
    if not all(isinstance(p, dict) for p in given):
        raise InvalidInput("field 'participants' must be an array of objects", code="invalid_field")
    return [red_team.Participant(user=field(p, "user", str, required=False, max_length=200),
                                 name=field(p, "name", str, required=False, default="", max_length=200),
                                 organisation=field(p, "organisation", str, required=False, default="",
                                                    max_length=200))
            for p in given]


def _created(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


@bp.get("/models/<name>/red-team")
@require_role(*ROLES)
def list_red_team(name: str) -> Response:
    """The exercises of the model's newest version and what blocks its sign-off."""
    session = current_session()
    model = find_model(session, name)
    blockers = red_team.blocking_findings(session, model)
    return jsonify({"model": model.name, "version": model.version,
                    "categories": red_team.finding_categories(model),
                    "exercises": [exercise_dict(e) for e in red_team.list_exercises(session, model)],
                    "blocking": [{"id": b.id, "title": b.title, "severity": b.severity, "version": b.version}
                                 for b in blockers],
                    "blocks_sign_off": bool(blockers)})


@bp.post("/models/<name>/red-team/exercises")
@require_role(*RECORDERS)
def create_exercise(name: str) -> Response:
    body = json_body()
    session = current_session()
    exercise = red_team.record_exercise(
        session, actor=g.actor, model=find_model(session, name),
        scope=field(body, "scope", str, max_length=red_team.MAX_TEXT),
        started_on=_date(body, "started_on") or _missing("started_on"), ended_on=_date(body, "ended_on"),
        participants=_participants(body))
    return _created(exercise_dict(exercise))


@bp.get("/red-team/exercises/<int:exercise_id>")
@require_role(*ROLES)
def show_exercise(exercise_id: int) -> Response:
    return jsonify(exercise_dict(red_team.get_exercise(current_session(), exercise_id)))


@bp.post("/red-team/exercises/<int:exercise_id>/findings")
@require_role(*RECORDERS)
def create_finding(exercise_id: int) -> Response:
    body = json_body()
    session = current_session()
    finding = red_team.record_finding(
        session, actor=g.actor, exercise=red_team.get_exercise(session, exercise_id),
        title=field(body, "title", str, max_length=red_team.MAX_NAME),
        category=field(body, "category", str, max_length=100),
        severity=field(body, "severity", str, max_length=20),
        description=field(body, "description", str, required=False, default="",
                          max_length=red_team.MAX_TEXT))
    return _created(finding_dict(finding))


@bp.get("/red-team/findings/<int:finding_id>")
@require_role(*ROLES)
def show_finding(finding_id: int) -> Response:
    return jsonify(finding_dict(red_team.get_finding(current_session(), finding_id)))


@bp.post("/red-team/findings/<int:finding_id>/mitigate")
@require_role(*RECORDERS)
def mitigate(finding_id: int) -> Response:
    body = json_body()
    session = current_session()
    return jsonify(finding_dict(red_team.mitigate_finding(
        session, actor=g.actor, finding=red_team.get_finding(session, finding_id),
        mitigation=field(body, "mitigation", str, max_length=red_team.MAX_TEXT))))


@bp.post("/red-team/findings/<int:finding_id>/accept")
@require_role(*RECORDERS)
def accept(finding_id: int) -> Response:
    body = json_body()
    session = current_session()
    return jsonify(finding_dict(red_team.accept_finding(
        session, actor=g.actor, finding=red_team.get_finding(session, finding_id),
        rationale=field(body, "rationale", str, max_length=red_team.MAX_TEXT))))


@bp.post("/red-team/findings/<int:finding_id>/reopen")
@require_role(*RECORDERS)
def reopen(finding_id: int) -> Response:
    body = json_body()
    session = current_session()
    return jsonify(finding_dict(red_team.reopen_finding(
        session, actor=g.actor, finding=red_team.get_finding(session, finding_id),
        reason=field(body, "reason", str, max_length=red_team.MAX_TEXT))))
