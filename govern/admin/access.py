"""Server-side role checks for every UI page, the acting user's name, and the UI's HTML errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Blueprint, render_template
from flask_login import current_user
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from govern.errors import Forbidden, GovernError
from govern.extensions import login_manager
from govern.identity.users import ROLES

P = ParamSpec("P")
R = TypeVar("R")

ANY_ROLE = ROLES
CHANGERS = ("admin", "reviewer", "approver", "board")  # every role but auditor changes something
READERS = ("admin", "auditor")  # the decision log and the identity configuration, as in the admin API


def roles_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Signed in and holding one of `roles`, or the sign-in page / 403."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            if not current_user.is_authenticated:
                unauthorized: Response = login_manager.unauthorized()
                return unauthorized
            if not current_user.role_set & set(roles):
                raise Forbidden(f"this page needs the role {' or '.join(roles)}", code="role_required")
            return view(*args, **kwargs)

        return guarded

    return decorate


def holds(*roles: str) -> bool:
    return bool(current_user.is_authenticated and current_user.role_set & set(roles))


def actor() -> str:
    return f"user:{current_user.username}"


def error_page(status: int, message: str, headers: Headers | None = None) -> Response:
    """The HTML page of an error, for a browser (programs get problem JSON); with `headers` of the
    error worth keeping (a 405's Allow, a 401's challenge), less its content type."""
    page = Response(render_template("errors/error.html", status=status, message=message), status,
                    mimetype="text/html")
    for name, value in (headers or Headers()).items():
        if name.lower() not in ("content-type", "content-length"):
            page.headers[name] = value
    return page


def html_errors(bp: Blueprint) -> None:
    """Errors of the UI's pages as HTML pages, whoever asks (the JSON API answers with problem
    bodies; elsewhere the app answers a browser with a page and a program with JSON)."""

    @bp.errorhandler(GovernError)
    def governed(error: GovernError) -> Response:
        return error_page(error.status, error.message)

    @bp.errorhandler(HTTPException)
    def http(error: HTTPException) -> Response:
        return error_page(error.code or 500, error.description or error.name)
