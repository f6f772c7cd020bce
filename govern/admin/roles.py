"""Role checks for the admin UI's pages: signed in, and holding one of the roles a page names."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask_login import current_user
from werkzeug.wrappers import Response

from govern.errors import Forbidden
from govern.extensions import login_manager

P = ParamSpec("P")
R = TypeVar("R")


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Send a visitor who is not signed in to the login page; refuse (403) one without the role."""

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


def ui_actor() -> str:
    """The signed-in user as the services name an actor (the same form the JSON API uses)."""
    return f"user:{current_user.username}"
