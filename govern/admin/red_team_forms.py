"""WTForms forms of the Red team page; the category choices depend on the model's preset and are
set by the view."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from govern.governance.red_team import Participant
from govern.models.red_team_exercise import SEVERITIES


class ExerciseForm(FlaskForm):  # type: ignore[misc]
    scope = TextAreaField("Scope", validators=[DataRequired(), Length(max=10_000)])
    started_on = DateField("Started on", validators=[DataRequired()])
    ended_on = DateField("Ended on (leave empty while it goes on)", validators=[Optional()])
    internal = TextAreaField("Internal participants: govern usernames, one per line",
                             validators=[Optional(), Length(max=5000)])
    external = TextAreaField("External participants: one per line, “name, organisation”",
                             validators=[Optional(), Length(max=5000)])

    def participants(self) -> list[Participant]:
        internal = [Participant(user=line.strip()) for line in (self.internal.data or "").splitlines()
                    if line.strip()]
        external = []
        for line in (self.external.data or "").splitlines():
            if line.strip():
                name, _, organisation = line.partition(",")
                external.append(Participant(name=name.strip(), organisation=organisation.strip()))
        return internal + external


class FindingForm(FlaskForm):  # type: ignore[misc]
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    category = SelectField("Category", validators=[DataRequired()])
    severity = SelectField("Severity", validators=[DataRequired()],
                           choices=[SelectChoice(s, s.capitalize()) for s in SEVERITIES])
    description = TextAreaField("Description", validators=[Optional(), Length(max=10_000)])


class ResolutionForm(FlaskForm):  # type: ignore[misc]
    """Mitigating (what mitigated it), accepting (the rationale) or reopening (the reason)."""

    text = TextAreaField("", validators=[DataRequired(), Length(max=10_000)])
