"""WTForms forms of the organisation and key pages. Tier choices come from the live policy and are
set by the view (`use_tiers`); the services check every value again when it is saved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, Field, Form, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

NO_CAP = ""
# How long a rotated-out key keeps working: (seconds, label).
OVERLAPS = [SelectChoice("0", "no overlap: the old key stops now"),
            SelectChoice("3600", "1 hour"), SelectChoice("86400", "1 day"),
            SelectChoice("604800", "7 days")]


def _known_choice(_form: Form, field: Field) -> None:
    choices = [str(choice[0]) for choice in field.iter_choices()]
    if field.data not in choices:
        tiers = ", ".join(choice for choice in choices if choice)
        raise ValidationError(f"{field.data!r} is not a tier of the policy ({tiers})")


def _future(_form: Form, field: Field) -> None:
    if field.data is not None and field.data.replace(tzinfo=UTC) <= datetime.now(UTC):
        raise ValidationError("choose a time in the future")


class TierForm(FlaskForm):  # type: ignore[misc]
    tier = SelectField("Tier", validate_choice=False, validators=[DataRequired(), _known_choice])

    def use_tiers(self, tiers: Sequence[str]) -> None:
        self.tier.choices = [SelectChoice(tier, tier) for tier in tiers]


class NewOrgForm(TierForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])


def utc(moment: datetime | None) -> datetime | None:
    """A time typed in the form, read as UTC (the pages show every time in UTC)."""
    return moment.replace(tzinfo=UTC) if moment is not None else None


class ExpiryForm(FlaskForm):  # type: ignore[misc]
    expires_at = DateTimeLocalField("Expires at (UTC)", format="%Y-%m-%dT%H:%M",
                                    validators=[Optional(), _future])


class CapForm(FlaskForm):  # type: ignore[misc]
    tier_cap = SelectField("Tier cap", validate_choice=False, validators=[_known_choice])

    def use_tiers(self, tiers: Sequence[str]) -> None:
        self.tier_cap.choices = [SelectChoice(NO_CAP, "no cap (the organisation's tier)"),
                                 *(SelectChoice(tier, tier) for tier in tiers)]


class NewKeyForm(CapForm, ExpiryForm):
    name = StringField("Name (optional, e.g. which service holds it)", validators=[Length(max=200)])


class AdminKeyForm(ExpiryForm):
    """An admin key: the admin API as one account, with that account's roles (an auditor's reads)."""

    user_id = SelectField("Account (the key acts with its roles)", coerce=int, validators=[DataRequired()])
    name = StringField("Name (optional, e.g. which script holds it)", validators=[Length(max=200)])


class PepKeyForm(ExpiryForm):
    name = StringField("Gateway (which enforcement point holds it)",
                       validators=[DataRequired(), Length(max=200)])


class RotateForm(FlaskForm):  # type: ignore[misc]
    overlap = SelectField("Old key keeps working for", choices=OVERLAPS, default="3600")
