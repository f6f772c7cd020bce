"""The Red team page of a model: its exercises with their participants and findings, recording
them, and mitigating, accepting or reopening a finding. The rules live in govern.governance.red_team."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from govern.admin.access import ANY_ROLE, actor, holds, html_errors, roles_required
from govern.admin.red_team_forms import ExerciseForm, FindingForm, ResolutionForm
from govern.errors import GovernError, NotFound
from govern.extensions import current_session
from govern.governance import red_team
from govern.governance.overview import ModelOverview, model_overview
from govern.governance.registry import get_model
from govern.models import RedTeamFinding
from govern.models.base import utcnow

bp = Blueprint("red_team", __name__, url_prefix="/models")
html_errors(bp)
INVALID = 400
RECORDERS = ("reviewer", "admin")
# What each resolution form asks for, by its kind.
LABELS = {"mitigate": "What mitigated it", "accept": "Why it is accepted (rationale)",
          "reopen": "Why it is reopened"}


def _overview(model_id: int) -> ModelOverview:
    session = current_session()
    return model_overview(session, get_model(session, model_id), utcnow())


def _unposted(posted: bool) -> dict[str, Any]:
    """Form arguments: read the request's form only when `posted`."""
    return {} if posted else {"formdata": None}


def _finding_form(view: ModelOverview, exercise_id: int, posted: bool = False) -> FindingForm:
    form = FindingForm(prefix=f"finding-{exercise_id}", **_unposted(posted))
    form.category.choices = [SelectChoice(key, name)
                             for key, name in red_team.finding_categories(view.model).items()]
    return form


def _resolution_form(kind: str, finding_id: int, posted: bool = False) -> ResolutionForm:
    form = ResolutionForm(prefix=f"{kind}-{finding_id}", **_unposted(posted))
    form.text.label.text = LABELS[kind]
    return form


def _page(model_id: int, status: int = 200, bound: dict[tuple[str, int], Any] | None = None
          ) -> tuple[str, int]:
    session = current_session()
    view = _overview(model_id)
    exercises = red_team.list_exercises(session, view.model)
    ids = [e.id for e in exercises]
    forms = dict(bound or {})

    def form_for(kind: str, key: int) -> Any:
        if (kind, key) not in forms:
            forms[kind, key] = (_finding_form(view, key) if kind == "finding"
                                else ExerciseForm(formdata=None) if kind == "exercise"
                                else _resolution_form(kind, key))
        return forms[kind, key]

    return render_template(
        "models/red_team.html", view=view, holds=holds, exercises=exercises,
        participants=red_team.participants_of(session, ids), findings=red_team.findings_of(session, ids),
        blockers=red_team.blocking_findings(session, view.model),
        categories=red_team.finding_categories(view.model), form_for=form_for), status


def _act(model_id: int, key: tuple[str, int], form: Any, error_field: str,
         act: Callable[[], str]) -> Response | tuple[str, int]:
    """Validate `form`, run `act`: back to the page with its message, or the page with errors."""
    if form.validate_on_submit():
        try:
            flash(act(), "done")
            return redirect(url_for("red_team.page", model_id=model_id))
        except GovernError as error:
            getattr(form, error_field).errors.append(error.message)
    return _page(model_id, INVALID, {key: form})


def _finding_of(model_id: int, finding_id: int) -> RedTeamFinding:
    """The finding, if it belongs to this model's page (a URL must not act on another model's)."""
    finding = red_team.get_finding(current_session(), finding_id)
    if finding.model_id != model_id:
        raise NotFound(f"no red-team finding {finding_id} of this model", code="finding_not_found")
    return finding


@bp.get("/<int:model_id>/red-team")
@roles_required(*ANY_ROLE)
def page(model_id: int) -> tuple[str, int]:
    return _page(model_id)


@bp.post("/<int:model_id>/red-team/exercises")
@roles_required(*RECORDERS)
def add_exercise(model_id: int) -> Response | tuple[str, int]:
    form = ExerciseForm()

    def act() -> str:
        model = get_model(current_session(), model_id)
        exercise = red_team.record_exercise(current_session(), actor=actor(), model=model,
                                            scope=form.scope.data, started_on=form.started_on.data,
                                            ended_on=form.ended_on.data, participants=form.participants())
        return f"Recorded red-team exercise #{exercise.id} of {model.name} {model.version}."

    return _act(model_id, ("exercise", 0), form, "scope", act)


@bp.post("/<int:model_id>/red-team/exercises/<int(max=2147483647):exercise_id>/findings")
@roles_required(*RECORDERS)
def add_finding(model_id: int, exercise_id: int) -> Response | tuple[str, int]:
    session = current_session()
    exercise = red_team.get_exercise(session, exercise_id)
    if exercise.model_id != model_id:
        raise NotFound(f"no red-team exercise {exercise_id} of this model", code="exercise_not_found")
    form = _finding_form(_overview(model_id), exercise_id, posted=True)

    def act() -> str:
        finding = red_team.record_finding(session, actor=actor(), exercise=exercise, title=form.title.data,
                                          category=form.category.data, severity=form.severity.data,
                                          description=form.description.data or "")
        blocks = " It blocks the sign-off until it is mitigated or accepted." if (
            finding.severity in red_team.BLOCKING) else ""
        return f"Recorded finding #{finding.id} ({finding.severity}).{blocks}"

    return _act(model_id, ("finding", exercise_id), form, "title", act)


Change = Callable[[RedTeamFinding, str], RedTeamFinding]


def _resolve(model_id: int, finding_id: int, kind: str, change: Change,
             done: str) -> Response | tuple[str, int]:
    finding = _finding_of(model_id, finding_id)
    form = _resolution_form(kind, finding_id, posted=True)

    def act() -> str:
        changed = change(finding, form.text.data)
        return f"Finding #{changed.id} {done}."

    return _act(model_id, (kind, finding_id), form, "text", act)


@bp.post("/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/mitigate")
@roles_required(*RECORDERS)
def mitigate(model_id: int, finding_id: int) -> Response | tuple[str, int]:
    return _resolve(model_id, finding_id, "mitigate", lambda finding, text: red_team.mitigate_finding(
        current_session(), actor=actor(), finding=finding, mitigation=text), "is mitigated")


@bp.post("/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/accept")
@roles_required(*RECORDERS)
def accept(model_id: int, finding_id: int) -> Response | tuple[str, int]:
    return _resolve(model_id, finding_id, "accept", lambda finding, text: red_team.accept_finding(
        current_session(), actor=actor(), finding=finding, rationale=text), "is accepted")


@bp.post("/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/reopen")
@roles_required(*RECORDERS)
def reopen(model_id: int, finding_id: int) -> Response | tuple[str, int]:
    return _resolve(model_id, finding_id, "reopen", lambda finding, text: red_team.reopen_finding(
        current_session(), actor=actor(), finding=finding, reason=text), "is open again")
