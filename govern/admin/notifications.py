"""Notifications: the signed-in person chooses which of the event types that concern their roles
they receive by e-mail."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from govern.admin.access import ANY_ROLE, actor, html_errors, roles_required
from govern.admin.notification_forms import TYPE_CHOICES, PreferencesForm
from govern.extensions import current_session
from govern.notifications import preferences

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
html_errors(bp)


def _form(**options: object) -> PreferencesForm:
    form = PreferencesForm(**options)
    concerning = set(preferences.concerning(current_session(), current_user.person_id))
    form.receive.choices = [choice for choice in TYPE_CHOICES if choice.value in concerning]
    return form


def _page(form: PreferencesForm, status: int = 200) -> tuple[str, int]:
    return render_template("notifications/preferences.html", form=form,
                           email_on=current_app.extensions["govern.settings"].smtp is not None), status


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    chosen = preferences.chosen(current_session(), current_user.person_id)
    return _page(_form(formdata=None, receive=[name for name, on in chosen.items() if on]))[0]


@bp.post("")
@roles_required(*ANY_ROLE)
def save() -> Response | tuple[str, int]:
    form = _form()
    if not form.validate():
        return _page(form, 400)
    preferences.choose(current_session(), current_user.person_id, actor=actor(),
                       receive=form.receive.data or [])
    flash("Your notification choices are saved.", "success")
    return redirect(url_for("notifications.index"))
