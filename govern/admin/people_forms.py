"""WTForms forms of the People pages; the choices of people and roles are set by the view."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from govern.identity.users import ROLES


class PersonForm(FlaskForm):  # type: ignore[misc]
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=200)])
    email = StringField("E-mail (an authoritative issuer links new identities by it)",
                        validators=[Optional(), Length(max=320)])


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField("Role", choices=[SelectChoice(role, role) for role in ROLES],
                       validators=[DataRequired()])


class LinkForm(FlaskForm):  # type: ignore[misc]
    person_id = SelectField("Belongs to", coerce=int, validators=[DataRequired()])


class AccountForm(FlaskForm):  # type: ignore[misc]
    """A new local account and its roles; its password is made by govern and shown once."""

    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    roles = SelectMultipleField("Roles", choices=[SelectChoice(role, role) for role in ROLES],
                                validators=[DataRequired(message="choose at least one role")])


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only its CSRF token."""
