"""Models under governance: the list, registration, the overview with reviews, the launch checklist,
sign-offs and re-reviews, the Preparedness scorecard, the kill switch and the model's audit timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from govern.admin.access import ANY_ROLE, actor, holds, html_errors, roles_required
from govern.admin.governance_forms import (
    ChecklistItemForm,
    Confirmed,
    RatingForm,
    RationaleForm,
    RegisterModelForm,
    ReReviewForm,
    ReviewForm,
    SignOffForm,
    VersionForm,
)
from govern.api.body import time_field
from govern.api.ops import current_live_facts
from govern.audit.timeline import events_for_target
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance.access_at import access_at
from govern.governance.changes import model_target
from govern.governance.checklists import checklist_state, update_item
from govern.governance.holds import release_hold
from govern.governance.overview import ModelOverview, all_overviews, model_overview
from govern.governance.presets import DEFAULT_PRESET, preset_checklist, presets
from govern.governance.preview import SignOffPreview, sign_off_preview
from govern.governance.re_reviews import all_re_reviews, record_re_review
from govern.governance.red_team import blocked_reason, blocking_findings, cited_exercises, list_exercises
from govern.governance.registry import (
    get_model,
    list_models,
    model_versions,
    register_model,
    register_version,
    retire_model,
)
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category, rating_history
from govern.governance.signoffs import check_sign_off, reverse_sign_off, sign_off
from govern.governance.suspension import lift_suspension, suspend_model
from govern.identity.incident_holds import unreviewed_incidents
from govern.models.base import utcnow
from govern.policy.store import current_document

bp = Blueprint("models", __name__, url_prefix="/models")
html_errors(bp)
INVALID = 400
PAGE = 50


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    session = current_session()
    page = max(request.args.get("page", 1, type=int), 1)
    sort = "-name" if request.args.get("sort") == "-name" else "name"
    # One more than a page: whether there is a next page, without counting every model.
    models = list_models(session, descending=sort == "-name", offset=(page - 1) * PAGE, limit=PAGE + 1)
    overviews = all_overviews(session, utcnow(), models[:PAGE])
    return render_template("models/list.html", overviews=overviews, page=page, sort=sort,
                           more=len(models) > PAGE)


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def new() -> str | Response | tuple[str, int]:
    form = RegisterModelForm()
    form.model_group.choices = list(current_document(current_session()).model_groups)
    form.preset.choices = [SelectChoice(name, preset.title) for name, preset in presets().items()]
    if not form.is_submitted():
        form.preset.data = DEFAULT_PRESET
    if form.validate_on_submit():
        try:
            model = register_model(current_session(), actor=actor(), name=form.name.data,
                                   version=form.version.data, owner=form.owner.data,
                                   model_group=form.model_group.data, preset=form.preset.data,
                                   description=form.description.data or "")
            top = current_document(current_session()).tiers[-1]
            flash(f"Registered {model.name} {model.version} under governance: only {top} reaches it "
                  f"until it is signed off.", "done")
            return redirect(url_for("models.detail", model_id=model.id))
        except GovernError as error:
            form.name.errors.append(error.message)
    status = INVALID if form.is_submitted() else 200
    return render_template("models/new.html", form=form), status


# -- the overview page and its forms --------------------------------------------------------------
def _overview(model_id: int) -> ModelOverview:
    session = current_session()
    return model_overview(session, get_model(session, model_id), utcnow())


def _forms(view: ModelOverview, **bound: Any) -> dict[str, Any]:
    forms: dict[str, Any] = {
        "review_form": bound.get("review_form") or ReviewForm(formdata=None),
        "sign_off_form": bound.get("sign_off_form") or SignOffForm(formdata=None),
        "reverse_form": bound.get("reverse_form") or RationaleForm(formdata=None, prefix="reverse"),
        "release_form": bound.get("release_form") or RationaleForm(formdata=None, prefix="release"),
        "suspend_form": bound.get("suspend_form") or RationaleForm(formdata=None, prefix="suspend"),
        "version_form": bound.get("version_form") or VersionForm(formdata=None, prefix="version"),
        "retire_form": bound.get("retire_form") or RationaleForm(formdata=None, prefix="retire"),
        "checklist_form": bound.get("checklist_form") or ChecklistItemForm(formdata=None, prefix="checklist"),
        "re_review_form": bound.get("re_review_form") or ReReviewForm(formdata=None, prefix="re_review"),
    }
    forms["checklist_form"].item.choices = [SelectChoice(item.id, item.title)
                                            for item in preset_checklist(view.preset).items]
    forms["review_form"].tier.choices = [SelectChoice("", "—"), *[SelectChoice(t) for t in view.tiers]]
    forms["sign_off_form"].tier.choices = [SelectChoice("", "— choose a tier —"),
                                           *[SelectChoice(t) for t in view.tiers]]
    return forms


def _detail(model_id: int, status: int = 200, **bound: Any) -> tuple[str, int]:
    view = _overview(model_id)
    session = current_session()
    held_by = (unreviewed_incidents(session, model_target(view.model.name))
               if view.model.suspended else [])
    blockers = blocking_findings(session, view.model)
    # The live checks run for the sign-off in force, else the widest tier a quorum supports.
    tier = (view.signed_off.tier if view.signed_off else view.quorum.widest_tier) or view.tiers[0]
    checklist = checklist_state(session, view.model, tier=tier, facts=current_live_facts())
    return render_template("models/detail.html", view=view, holds=holds,
                           versions=model_versions(session, view.model.name), checklist=checklist,
                           held_by=held_by,
                           re_reviews=all_re_reviews(session, view.model),
                           red_team_block=blocked_reason(blockers) if blockers else None,
                           **_forms(view, **bound)), status


# What an action does: a confirmation page to show first, the message saying what it changed, or
# where to go next.
Outcome = tuple[str, int] | str | Response


def _submit(model_id: int, form_name: str, form: Any, error_field: str,
            act: Callable[[ModelOverview, Any], Outcome]) -> Response | tuple[str, int]:
    """Validate `form`, run `act(view, form)`: its confirmation page, or on success back to the
    overview with its message; else the page with errors."""
    view = _overview(model_id)
    _forms(view, **{form_name: form})  # choices must be set before validating
    if form.validate_on_submit():
        try:
            outcome = act(view, form)
            if not isinstance(outcome, str):
                return outcome
            flash(outcome, "done")
            return redirect(url_for("models.detail", model_id=model_id))
        except GovernError as error:
            getattr(form, error_field).errors.append(error.message)
    if hasattr(form, "confirmed"):
        form.confirmed.data = ""  # corrected on the overview, the form asks for confirmation again
    return _detail(model_id, INVALID, **{form_name: form})


def _confirm(view: ModelOverview, form: Confirmed, *, action: str, title: str, facts: list[str],
             button: str, danger: bool = False, preview: SignOffPreview | None = None) -> tuple[str, int]:
    """The confirmation step: what the action will do, and the same form posted again, confirmed."""
    form.confirmed.data = "yes"
    return render_template("models/confirm.html", view=view, form=form, action=action, title=title,
                           facts=facts, button=button, danger=danger, preview=preview), 200


def _hold_rule(view: ModelOverview, after: str) -> str:
    release = " and a board member's release" if view.preset.hold_needs_release else ""
    return (f"Signing it off again will need {view.preset.review_quorum} reviews recorded after "
            f"{after}{release}.")


@bp.get("/<int:model_id>")
@roles_required(*ANY_ROLE)
def detail(model_id: int) -> tuple[str, int]:
    return _detail(model_id)


@bp.post("/<int:model_id>/reviews")
@roles_required("reviewer")
def review(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: ReviewForm) -> Outcome:
        done = record_review(current_session(), actor=actor(), model=view.model,
                             recommendation=form.recommendation.data, tier=form.tier.data or None,
                             rationale=form.rationale.data)
        said = f"open to {done.tier} and above" if done.tier else done.recommendation
        return f"Recorded your recommendation on {view.model.name} (revision {done.revision}): {said}."

    return _submit(model_id, "review_form", ReviewForm(), "rationale", act)


@bp.post("/<int:model_id>/sign-offs")
@roles_required("approver")
def sign(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: SignOffForm) -> Outcome:
        session, model, tier = current_session(), view.model, form.tier.data
        expires = form.expires_at.data.replace(tzinfo=UTC) if form.expires_at.data else None
        if not form.is_confirmed:
            check_sign_off(session, actor=actor(), model=model, tier=tier, expires_at=expires,
                           facts=current_live_facts())
            return _confirm(
                view, form, action=url_for("models.sign", model_id=model.id),
                title=f"Sign off {model.name} for {tier} and every tier above?",
                facts=[f"Conditions: {form.conditions.data or 'none'}.",
                       f"Expires: {expires.strftime('%Y-%m-%d %H:%M') + ' UTC' if expires else 'never'}."],
                button="Confirm sign-off", preview=sign_off_preview(session, model, tier))
        ended_hold = view.hold is not None
        sign_off(session, actor=actor(), model=model, tier=tier, conditions=form.conditions.data or "",
                 expires_at=expires, facts=current_live_facts())
        return (f"Signed off {model.name}: open to {tier} and above"
                + (", and the hold is ended." if ended_hold else "."))

    return _submit(model_id, "sign_off_form", SignOffForm(), "tier", act)


@bp.post("/<int:model_id>/sign-offs/<int:sign_off_id>/reverse")
@roles_required("board")
def reverse(model_id: int, sign_off_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> Outcome:
        model, top = view.model, view.tiers[-1]
        if not form.is_confirmed:
            return _confirm(
                view, form, action=url_for("models.reverse", model_id=model.id, sign_off_id=sign_off_id),
                title=f"Reverse sign-off #{sign_off_id} of {model.name}?",
                facts=[f"Only {top} will reach {model.name}, at once.", _hold_rule(view, "the reversal"),
                       f"Rationale: {form.rationale.data}"],
                button="Confirm reversal", danger=True)
        signed = reverse_sign_off(current_session(), actor=actor(), model=model, sign_off_id=sign_off_id,
                                  rationale=form.rationale.data)
        return (f"Reversed sign-off #{signed.id} of {model.name} (it opened {signed.tier} and above): "
                f"only {top} reaches it. {_hold_rule(view, 'the reversal')}")

    return _submit(model_id, "reverse_form", RationaleForm(prefix="reverse"), "rationale", act)


@bp.post("/<int:model_id>/hold/release")
@roles_required("board")
def release(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> Outcome:
        release_hold(current_session(), actor=actor(), model=view.model, rationale=form.rationale.data)
        held = _overview(model_id).hold
        return f"Released the hold on {view.model.name}." + (f" {held.summary()}." if held else "")

    return _submit(model_id, "release_form", RationaleForm(prefix="release"), "rationale", act)


@bp.post("/<int:model_id>/suspension")
@roles_required("admin", "approver")
def suspend(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> Outcome:
        model, lifting = view.model, view.model.suspended
        if lifting:
            signed = (f"open to {view.signed_off.tier} and above" if view.signed_off
                      else "no sign-off in force")
            after = (f"The earlier sign-off no longer counts. {_hold_rule(view, 'the lifting')}"
                     if view.preset.hold_after_suspension else
                     f"Callers are answered by the policy and the sign-off again ({signed}).")
        else:
            after = f"Every caller, at every tier, will be denied {model.name} at once, until it is lifted."
        if not form.is_confirmed:
            return _confirm(view, form, action=url_for("models.suspend", model_id=model.id),
                            title=f"{'Lift the suspension of' if lifting else 'Suspend'} {model.name}?",
                            facts=[after, f"Reason: {form.rationale.data}"],
                            button="Confirm: lift the suspension" if lifting else "Confirm: suspend now",
                            danger=not lifting)
        change = lift_suspension if lifting else suspend_model
        change(current_session(), actor=actor(), model=model, reason=form.rationale.data)
        done = f"Lifted the suspension of {model.name}." if lifting else f"Suspended {model.name}."
        return f"{done} {after}"

    return _submit(model_id, "suspend_form", RationaleForm(prefix="suspend"), "rationale", act)


@bp.post("/<int:model_id>/checklist")
@roles_required("admin", "reviewer")
def checklist_item(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: ChecklistItemForm) -> Outcome:
        row = update_item(current_session(), actor=actor(), model=view.model, item_id=form.item.data,
                          state=form.state.data, owner=form.owner.data or None,
                          evidence=form.evidence.data or "")
        title = preset_checklist(view.preset).item(row.item_id).title
        return f"Recorded {title!r} of {view.model.name} {view.model.version}: {row.state.replace('_', ' ')}."

    return _submit(model_id, "checklist_form", ChecklistItemForm(prefix="checklist"), "evidence", act)


@bp.post("/<int:model_id>/re-reviews")
@roles_required("reviewer")
def re_review(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: ReReviewForm) -> Outcome:
        done = record_re_review(current_session(), actor=actor(), model=view.model,
                                recommendation=form.recommendation.data, rationale=form.rationale.data)
        return f"Recorded your re-review of {view.model.name}: {done.recommendation}."

    return _submit(model_id, "re_review_form", ReReviewForm(prefix="re_review"), "rationale", act)


@bp.post("/<int:model_id>/versions")
@roles_required("admin")
def new_version(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: VersionForm) -> Outcome:
        new = register_version(current_session(), actor=actor(), model=view.model,
                               version=form.version.data, description=form.description.data or "")
        flash(f"Registered {new.name} {new.version}: unrated and closed to all but {view.tiers[-1]} until "
              f"it is signed off. The records of {view.model.version} are kept on its page.", "done")
        return redirect(url_for("models.detail", model_id=new.id))

    return _submit(model_id, "version_form", VersionForm(prefix="version"), "version", act)


@bp.post("/<int:model_id>/retirement")
@roles_required("admin")
def retire(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> Outcome:
        model = view.model
        after = f"Every caller, at every tier, will be denied {model.name} for good; its records stay."
        if not form.is_confirmed:
            return _confirm(view, form, action=url_for("models.retire", model_id=model.id),
                            title=f"Retire {model.name} {model.version}?",
                            facts=[after, f"Reason: {form.rationale.data}"],
                            button="Confirm: retire it", danger=True)
        retire_model(current_session(), actor=actor(), model=model, reason=form.rationale.data)
        return f"Retired {model.name} {model.version}. {after}"

    return _submit(model_id, "retire_form", RationaleForm(prefix="retire"), "rationale", act)


# -- the scorecard ----------------------------------------------------------------------------------
def _scorecard(model_id: int, form: RatingForm | None = None, status: int = 200) -> tuple[str, int]:
    view = _overview(model_id)
    form = form or RatingForm(formdata=None)
    _rating_choices(view, form)
    history = rating_history(current_session(), view.model)
    return render_template("models/scorecard.html", view=view, form=form, history=history, holds=holds,
                           cited=cited_exercises(current_session(), [r.id for r in history])), status


def _rating_choices(view: ModelOverview, form: RatingForm) -> None:
    form.category.choices = [SelectChoice(c.id, c.name) for c in view.preset.categories]
    levels = [SelectChoice(level, level.capitalize()) for level in view.preset.levels]
    form.pre_level.choices = levels
    form.post_level.choices = levels
    form.exercises.choices = [SelectChoice(e.id, f"#{e.id} {e.started_on.isoformat()}: {e.scope[:60]}")
                              for e in list_exercises(current_session(), view.model)]


@bp.get("/<int:model_id>/scorecard")
@roles_required(*ANY_ROLE)
def scorecard(model_id: int) -> tuple[str, int]:
    return _scorecard(model_id)


@bp.post("/<int:model_id>/scorecard")
@roles_required("reviewer")
def rate(model_id: int) -> Response | tuple[str, int]:
    view = _overview(model_id)
    form = RatingForm()
    _rating_choices(view, form)
    if form.validate_on_submit():
        try:
            rating = rate_category(current_session(), actor=actor(), model=view.model,
                                   category=form.category.data, pre_level=form.pre_level.data,
                                   post_level=form.post_level.data, evidence=form.evidence.data,
                                   links=form.links.data or "", exercises=form.exercises.data or [])
            flash(f"Rated {view.preset.category(rating.category).name}: {rating.pre_level} before and "
                  f"{rating.post_level} after mitigation (revision {rating.revision}; reviews of earlier "
                  f"revisions no longer count).", "done")
            return redirect(url_for("models.scorecard", model_id=model_id))
        except GovernError as error:
            form.post_level.errors.append(error.message)
    return _scorecard(model_id, form, INVALID)


@bp.get("/<int:model_id>/timeline")
@roles_required(*ANY_ROLE)
def timeline(model_id: int) -> str:
    view = _overview(model_id)
    events = events_for_target(current_session(), model_target(view.model.name))
    return render_template("models/timeline.html", view=view, events=events)


@bp.get("/<int:model_id>/access")
@roles_required(*ANY_ROLE)
def access(model_id: int) -> tuple[str, int]:
    """Who could use the model, for which capability, at the moment `at` (UTC; now when absent)."""
    view = _overview(model_id)
    raw = request.args.get("at", "").strip()
    answer, error = None, None
    try:
        when = time_field(request.args, "at") if raw else None
        answer = access_at(current_session(), view.model, when or utcnow())
    except GovernError as problem:
        error = problem.message
    shown = raw or (answer.when.strftime("%Y-%m-%dT%H:%M:%S") if answer else "")
    return (render_template("models/access.html", view=view, answer=answer, at=shown, error=error),
            INVALID if error else 200)

