"""Signing in and out of the admin UI with a local account."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from govern.admin.forms import LoginForm
from govern.api.auth import SignedInUser
from govern.extensions import current_session
from govern.identity.users import authenticate_user

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate_user(current_session(), form.username.data, form.password.data)
        if user is not None:
            login_user(SignedInUser(user))
            return redirect(url_for("auth.home"))
        form.password.errors.append("Unknown username or wrong password.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required  # type: ignore[untyped-decorator]
def logout() -> Response:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> str | Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("auth/home.html", user=current_user)
