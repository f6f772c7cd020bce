"""People: local accounts with roles and scrypt-hashed passwords."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput
from govern.models import User

ROLES = ("admin", "reviewer", "approver", "board", "auditor")
# scrypt with n=2**15, r=8, p=1: Werkzeug's default, spelled out so an upgrade cannot weaken it.
PASSWORD_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 12
_DUMMY_HASH = generate_password_hash("not-a-password", method=PASSWORD_METHOD)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_matches(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def find_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar()


def authenticate_user(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, or None; the hash is checked even for an unknown name,
    so timing does not tell which usernames exist."""
    user = find_user(session, username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if password_matches(user, password) and user.active else None


def create_user(session: Session, *, actor: str, username: str, password: str,
                roles: frozenset[str]) -> User:
    if not username or len(username) > 150:
        raise InvalidInput("username must be 1 to 150 characters", code="invalid_username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters",
                           code="weak_password")
    unknown = sorted(roles - set(ROLES))
    if unknown:
        raise InvalidInput(f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}",
                           code="unknown_role")
    user = User(username=username, password_hash=hash_password(password),
                roles=",".join(sorted(roles)), active=True)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"user {username!r} already exists", code="user_exists") from None
    record_event(session, actor=actor, action="user.create", target=f"user:{user.id}",
                 after={"username": username, "roles": sorted(roles)})
    session.commit()
    return user


def end_sessions(session: Session, *, actor: str, user_id: int) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    user = session.get(User, user_id)
    if user is None:
        return
    user.session_epoch += 1
    record_event(session, actor=actor, action="user.sign_out", target=f"user:{user.id}")
    session.commit()
