"""WTForms forms of the Webhooks and Notifications pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from govern.notifications.catalogue import EVENT_TYPES

TYPE_CHOICES = [SelectChoice(name, f"{name}: {kind.summary}") for name, kind in EVENT_TYPES.items()]


def _types_field(label: str, *, required: bool) -> SelectMultipleField:
    validators = [DataRequired("choose at least one event type")] if required else [Optional()]
    return SelectMultipleField(label, choices=TYPE_CHOICES, widget=ListWidget(prefix_label=False),
                               option_widget=CheckboxInput(), validators=validators)


class WebhookForm(FlaskForm):  # type: ignore[misc]
    url = StringField("Endpoint URL (http or https)", validators=[DataRequired(), Length(max=2000)])
    description = StringField("Description", validators=[Optional(), Length(max=200)])
    event_types = _types_field("Event types", required=True)


class EventTypesForm(FlaskForm):  # type: ignore[misc]
    event_types = _types_field("Event types", required=True)


class PreferencesForm(FlaskForm):  # type: ignore[misc]
    """The choices are narrowed by the view to the types that concern the person."""

    receive = _types_field("Send me e-mail for", required=False)
