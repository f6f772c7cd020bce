"""Models under governance: the list, registration, the overview with reviews and sign-offs, the
Preparedness scorecard, the kill switch and the model's audit timeline."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from govern.admin.access import ANY_ROLE, actor, holds, html_errors, roles_required
from govern.admin.governance_forms import (
    RatingForm,
    RationaleForm,
    RegisterModelForm,
    ReviewForm,
    SignOffForm,
)
from govern.audit.timeline import events_for_target
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance.changes import model_target
from govern.governance.overview import ModelOverview, all_overviews, model_overview
from govern.governance.presets import DEFAULT_PRESET, presets
from govern.governance.registry import get_model, register_model
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category, rating_history
from govern.governance.signoffs import reverse_sign_off, sign_off
from govern.governance.suspension import lift_suspension, suspend_model
from govern.models.base import utcnow
from govern.policy.store import current_document

bp = Blueprint("models", __name__, url_prefix="/models")
html_errors(bp)
INVALID = 400


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    return render_template("models/list.html", overviews=all_overviews(current_session(), utcnow()))


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
        "suspend_form": bound.get("suspend_form") or RationaleForm(formdata=None, prefix="suspend"),
    }
    forms["review_form"].tier.choices = [SelectChoice("", "—"), *[SelectChoice(t) for t in view.tiers]]
    forms["sign_off_form"].tier.choices = list(view.tiers)
    return forms


def _detail(model_id: int, status: int = 200, **bound: Any) -> tuple[str, int]:
    view = _overview(model_id)
    return render_template("models/detail.html", view=view, holds=holds, **_forms(view, **bound)), status


def _submit(model_id: int, form_name: str, form: Any, error_field: str,
            act: Any) -> Response | tuple[str, int]:
    """Validate `form`, run `act(form)`; on success back to the overview, else the page with errors."""
    view = _overview(model_id)
    _forms(view, **{form_name: form})  # choices must be set before validating
    if form.validate_on_submit():
        try:
            act(view, form)
            return redirect(url_for("models.detail", model_id=model_id))
        except GovernError as error:
            getattr(form, error_field).errors.append(error.message)
    return _detail(model_id, INVALID, **{form_name: form})


@bp.get("/<int:model_id>")
@roles_required(*ANY_ROLE)
def detail(model_id: int) -> tuple[str, int]:
    return _detail(model_id)


@bp.post("/<int:model_id>/reviews")
@roles_required("reviewer")
def review(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: ReviewForm) -> None:
        record_review(current_session(), actor=actor(), model=view.model,
                      recommendation=form.recommendation.data, tier=form.tier.data or None,
                      rationale=form.rationale.data)

    return _submit(model_id, "review_form", ReviewForm(), "rationale", act)


@bp.post("/<int:model_id>/sign-offs")
@roles_required("approver")
def sign(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: SignOffForm) -> None:
        expires = form.expires_at.data.replace(tzinfo=UTC) if form.expires_at.data else None
        sign_off(current_session(), actor=actor(), model=view.model, tier=form.tier.data,
                 conditions=form.conditions.data or "", expires_at=expires)

    return _submit(model_id, "sign_off_form", SignOffForm(), "tier", act)


@bp.post("/<int:model_id>/sign-offs/<int:sign_off_id>/reverse")
@roles_required("board")
def reverse(model_id: int, sign_off_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> None:
        reverse_sign_off(current_session(), actor=actor(), model=view.model, sign_off_id=sign_off_id,
                         rationale=form.rationale.data)

    return _submit(model_id, "reverse_form", RationaleForm(prefix="reverse"), "rationale", act)


@bp.post("/<int:model_id>/suspension")
@roles_required("admin", "approver")
def suspend(model_id: int) -> Response | tuple[str, int]:
    def act(view: ModelOverview, form: RationaleForm) -> None:
        change = lift_suspension if view.model.suspended else suspend_model
        change(current_session(), actor=actor(), model=view.model, reason=form.rationale.data)

    return _submit(model_id, "suspend_form", RationaleForm(prefix="suspend"), "rationale", act)


# -- the scorecard ----------------------------------------------------------------------------------
def _scorecard(model_id: int, form: RatingForm | None = None, status: int = 200) -> tuple[str, int]:
    view = _overview(model_id)
    form = form or RatingForm(formdata=None)
    _rating_choices(view, form)
    history = rating_history(current_session(), view.model)
    return render_template("models/scorecard.html", view=view, form=form, history=history,
                           holds=holds), status


def _rating_choices(view: ModelOverview, form: RatingForm) -> None:
    form.category.choices = [SelectChoice(c.id, c.name) for c in view.preset.categories]
    form.pre_level.choices = list(view.preset.levels)
    form.post_level.choices = list(view.preset.levels)


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
            rate_category(current_session(), actor=actor(), model=view.model, category=form.category.data,
                          pre_level=form.pre_level.data, post_level=form.post_level.data,
                          evidence=form.evidence.data, links=form.links.data or "")
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
