"""Who is calling the admin and audit API: an admin key (Bearer) or a signed-in session.

Roles are checked here, on the server, for every route that needs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, flash, g, request, session
from flask_login import UserMixin, current_user, login_user

from govern.api import runtime
from govern.api.check import caller_key
from govern.config import Settings
from govern.errors import Forbidden, Unauthenticated
from govern.extensions import csrf, current_session, db, login_manager
from govern.identity.directory import AuthFailure
from govern.identity.people import account_usable, active_account
from govern.models import User
from govern.models.api_key import ADMIN
from govern.types import Reason

P = ParamSpec("P")
R = TypeVar("R")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def identify() -> tuple[str, frozenset[str], bool]:
    """(actor, roles, signed in with a session) of the caller, or Unauthenticated."""
    raw = caller_key(request.headers)
    if raw is None and current_user.is_authenticated:
        return f"user:{current_user.username}", current_user.role_set, True
    try:
        # Read afresh, not from the cache: a suspended or revoked key changes nothing, on any worker.
        entry = runtime().keys.authenticate(raw, time.time(), ADMIN, fresh=True)
    except AuthFailure as failure:
        raise Unauthenticated(failure.message, code=failure.reason.value) from None
    if entry.username is None:
        raise Unauthenticated("this endpoint needs an admin key", code="key_wrong_kind")
    # Read on every call rather than from the key cache: a disabled person or a removed role
    # stops the key on its very next request, not one refresh later.
    owner = active_account(current_session(), entry.username)
    if owner is None:
        raise Unauthenticated("the key's account or its person is disabled", code=Reason.KEY_REVOKED.value)
    return f"user:{owner.username}", owner.role_set, False


def require_role(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Let the call through only for a caller holding one of `roles`; sets g.actor."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            actor, held, by_session = identify()
            if not held & set(roles):
                raise Forbidden(f"this needs the role {' or '.join(roles)}", code="role_required")
            if by_session and request.method in MUTATING:
                csrf.protect()  # a session rides on a cookie, so a change must prove it came from us
            g.actor = actor
            return view(*args, **kwargs)

        return guarded

    return decorate


class SignedInUser(UserMixin):  # type: ignore[misc]
    """What Flask-Login keeps for a session; the model itself stays free of Flask."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.person_id = user.person_id
        self.role_set = user.role_set
        self.session_epoch = user.session_epoch

    def get_id(self) -> str:
        # The epoch rides in the session; signing out moves it on, so older cookies stop loading.
        return f"{self.id}:{self.session_epoch}"


# Unix times kept in the signed session cookie: when the session began and its latest request.
ISSUED_AT = "govern_issued_at"
SEEN_AT = "govern_seen_at"
SESSION_ENDED = "Your session has ended; please sign in again."


def start_session(user: User) -> None:
    """Sign `user` in to a fresh session, stamped for the idle and absolute limits."""
    session.clear()  # nothing from before sign-in carries over
    login_user(SignedInUser(user))
    now = time.time()
    session[ISSUED_AT] = now
    session[SEEN_AT] = now


def _session_current(now: float) -> bool:
    """Whether the session is within both time limits; a session without the stamps is not."""
    settings: Settings = current_app.extensions["govern.settings"]
    issued, seen = session.get(ISSUED_AT), session.get(SEEN_AT)
    if not isinstance(issued, (int, float)) or not isinstance(seen, (int, float)):
        return False
    return (now - seen <= settings.session_idle_minutes * 60
            and now - issued <= settings.session_max_hours * 3600)


def register(app: Flask) -> None:
    @login_manager.user_loader  # type: ignore[untyped-decorator]
    def load_user(session_id: str) -> SignedInUser | None:
        user_id, _, epoch = session_id.partition(":")
        # Called on every request: a disabled account or person loses its session at once.
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        if user is None or not account_usable(current_session(), user) or epoch != str(user.session_epoch):
            return None
        now = time.time()
        if not _session_current(now):
            session.clear()
            flash(SESSION_ENDED)
            return None
        session[SEEN_AT] = now
        return SignedInUser(user)
