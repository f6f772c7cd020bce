"""WTForms forms of the governance pages; choices that depend on the policy or preset are set by the view."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    Field,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from govern.models.checklist_item import DONE, NOT_APPLICABLE
from govern.models.checklist_item import OPEN as CHECKLIST_OPEN
from govern.models.re_review import CLOSE, CONTINUE
from govern.models.safety_review import MITIGATE, OPEN, REJECT


class RegisterModelForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Model name (as callers send it)", validators=[DataRequired(), Length(max=100)])
    version = StringField("Version", validators=[DataRequired(), Length(max=100)])
    owner = StringField("Owner", validators=[DataRequired(), Length(max=200)])
    model_group = SelectField("Model group", validators=[DataRequired()])
    preset = SelectField("Preparedness preset", validators=[DataRequired()])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])


class VersionForm(FlaskForm):  # type: ignore[misc]
    """A new version of a governed model: it starts unrated and closed, the old one's records kept."""

    version = StringField("New version", validators=[DataRequired(), Length(max=100)])
    description = TextAreaField("What changed (optional)", validators=[Optional(), Length(max=5000)])


def _links(_form: FlaskForm, field: Field) -> None:
    for line in (field.data or "").splitlines():
        url = urlparse(line.strip())
        if line.strip() and (url.scheme not in ("http", "https") or not url.netloc):
            raise ValidationError(f"not an http(s) link: {line.strip()[:80]}")


class RatingForm(FlaskForm):  # type: ignore[misc]
    category = SelectField("Tracked category", validators=[DataRequired()])
    pre_level = SelectField("Pre-mitigation level", validators=[DataRequired()])
    post_level = SelectField("Post-mitigation level", validators=[DataRequired()])
    evidence = TextAreaField("Evidence", validators=[DataRequired(), Length(max=10_000)])
    links = TextAreaField("Links (one per line)", validators=[Optional(), Length(max=10_000), _links])
    # Red-team exercises of the model cited as evidence; the view lists them.
    exercises = SelectMultipleField("Red-team exercises cited", coerce=int, validators=[Optional()],
                                    widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())


class ReviewForm(FlaskForm):  # type: ignore[misc]
    recommendation = RadioField("Recommendation", validators=[DataRequired()], choices=[
        SelectChoice(OPEN, "Open up to a tier"), SelectChoice(MITIGATE, "Require further mitigations"),
        SelectChoice(REJECT, "Reject")])
    tier = SelectField("Open to tier (and every tier above)", validators=[Optional()])
    rationale = TextAreaField("Rationale", validators=[DataRequired(), Length(max=10_000)])

    def validate_tier(self, field: Field) -> None:
        if self.recommendation.data == OPEN and not field.data:
            raise ValidationError("choose the tier to open the model to")


class Confirmed:
    """A form whose first post only shows what it will do; the confirmation page posts it again with
    `confirmed` set, and only that post acts."""

    confirmed = HiddenField()

    @property
    def is_confirmed(self) -> bool:
        return bool(self.confirmed.data == "yes")


class SignOffForm(Confirmed, FlaskForm):  # type: ignore[misc]
    # No default: the view puts an empty choice first, so the approver must pick the tier.
    tier = SelectField("Open to tier (and every tier above)", validators=[DataRequired()])
    conditions = TextAreaField("Conditions", validators=[Optional(), Length(max=5000)])
    expires_at = DateTimeLocalField("Expires (UTC, optional)", format="%Y-%m-%dT%H:%M",
                                    validators=[Optional()])

    def validate_expires_at(self, field: Field) -> None:
        if field.data is not None and field.data.replace(tzinfo=UTC) <= datetime.now(UTC):
            raise ValidationError("the expiry must be in the future")


class RationaleForm(Confirmed, FlaskForm):  # type: ignore[misc]
    """Board reversal, release of a hold, suspension and lifting it: all need a reason in words."""

    rationale = TextAreaField("Rationale", validators=[DataRequired(), Length(max=1000)])


class ChecklistItemForm(FlaskForm):  # type: ignore[misc]
    """One launch-checklist item's owner, evidence and state; the item choices are the preset's."""

    item = SelectField("Item", validators=[DataRequired()])
    state = RadioField("State", validators=[DataRequired()], choices=[
        SelectChoice(CHECKLIST_OPEN, "Open"), SelectChoice(DONE, "Done (with evidence)"),
        SelectChoice(NOT_APPLICABLE, "Not applicable (with a rationale)")])
    owner = StringField("Owner (username)", validators=[Optional(), Length(max=150)])
    evidence = TextAreaField("Evidence, links or rationale", validators=[Optional(), Length(max=5000)])


class ReReviewForm(FlaskForm):  # type: ignore[misc]
    recommendation = RadioField("Recommendation", validators=[DataRequired()], choices=[
        SelectChoice(CONTINUE, "Continue: the model stays deployed"),
        SelectChoice(CLOSE, "Close: recommend the board reverse the sign-off")])
    rationale = TextAreaField("Rationale", validators=[DataRequired(), Length(max=10_000)])
