"""Signing in and out of the admin UI with a local account."""

from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from govern.admin.access import html_errors
from govern.admin.forms import LoginForm
from govern.api.auth import start_session
from govern.extensions import current_session
from govern.identity.throttle import Throttled, begin_attempt, clear_failures, source_delay
from govern.identity.users import end_sessions, sign_in_with_password
from govern.models.base import utcnow

bp = Blueprint("auth", __name__)
html_errors(bp)

TOO_MANY = 429


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        db_session, now = current_session(), utcnow()
        address = request.remote_addr or "unknown"
        try:
            begin_attempt(db_session, form.username.data, address, now)
        except Throttled as throttled:
            form.password.errors.append(
                f"Too many failed sign-ins. Try again in {throttled.wait} seconds.")
            return render_template("auth/login.html", form=form), TOO_MANY
        # A busy address is slowed, never locked: its guesses cannot lock out anyone else there.
        time.sleep(source_delay(db_session, address, now))
        user = sign_in_with_password(db_session, form.username.data, form.password.data, address)
        if user is not None:
            clear_failures(db_session, form.username.data)
            start_session(user)
            return redirect(url_for("auth.home"))
        form.password.errors.append("Unknown username or wrong password.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required  # type: ignore[untyped-decorator]
def logout() -> Response:
    end_sessions(current_session(), actor=f"user:{current_user.username}", user_id=current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("dashboard.index"))
