"""WTForms forms of the incident and feedback pages; model choices are set by the view."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from govern.models.feedback_report import DISMISSED, NEW, TRIAGED
from govern.models.incident import SEVERITIES, STATES

SEVERITY_CHOICES = [SelectChoice(s, {"sev1": "sev1 (most severe)", "sev4": "sev4 (least severe)"}.get(s, s))
                    for s in SEVERITIES]


class IncidentForm(FlaskForm):  # type: ignore[misc]
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    severity = SelectField("Severity", choices=SEVERITY_CHOICES, validators=[DataRequired()])
    description = TextAreaField("What happened", validators=[Optional(), Length(max=10_000)])
    models = StringField("Affected models (names, comma-separated)",
                         validators=[Optional(), Length(max=2000)])
    orgs = StringField("Affected organisations (names, comma-separated)",
                       validators=[Optional(), Length(max=2000)])
    keys = StringField("Affected keys (prefixes, comma-separated)", validators=[Optional(), Length(max=2000)])


class NoteForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=10_000)])


class SeverityForm(FlaskForm):  # type: ignore[misc]
    severity = SelectField("New severity", choices=SEVERITY_CHOICES, validators=[DataRequired()])
    note = StringField("Why (optional)", validators=[Optional(), Length(max=2000)])


class StateForm(FlaskForm):  # type: ignore[misc]
    state = SelectField("New state", choices=list(STATES), validators=[DataRequired()])
    note = StringField("Note (optional)", validators=[Optional(), Length(max=2000)])


class SuspendModelForm(FlaskForm):  # type: ignore[misc]
    model = SelectField("Model", validators=[DataRequired()])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=900)])


class KeyActionForm(FlaskForm):  # type: ignore[misc]
    prefix = StringField("Key prefix", validators=[DataRequired(), Length(max=40)])
    action = RadioField("Action", choices=[SelectChoice("suspend", "suspend (lifted after the review)"),
                                           SelectChoice("revoke", "revoke (final)")], default="suspend",
                        validators=[DataRequired()])


class OrgActionForm(FlaskForm):  # type: ignore[misc]
    org = StringField("Organisation name", validators=[DataRequired(), Length(max=200)])


class LinkForm(FlaskForm):  # type: ignore[misc]
    audit_event_id = IntegerField("Audit event id of a suspension or revocation already made",
                                  validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])


class IncidentReviewForm(FlaskForm):  # type: ignore[misc]
    findings = TextAreaField("Post-incident review: cause, what was done, what changes",
                             validators=[DataRequired(), Length(max=10_000)])


class TriageForm(FlaskForm):  # type: ignore[misc]
    state = SelectField("Mark as", choices=[SelectChoice(TRIAGED, "triaged"),
                                            SelectChoice(DISMISSED, "dismissed"), SelectChoice(NEW, "new")],
                        validators=[DataRequired()])
    note = StringField("Note (optional)", validators=[Optional(), Length(max=2000)])


class FromReportForm(FlaskForm):  # type: ignore[misc]
    title = StringField("Incident title", validators=[DataRequired(), Length(max=200)])
    severity = SelectField("Severity", choices=SEVERITY_CHOICES, default="sev3", validators=[DataRequired()])


class JoinForm(FlaskForm):  # type: ignore[misc]
    incident_id = IntegerField("Incident number",
                               validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])
