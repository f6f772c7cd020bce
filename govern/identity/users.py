"""Accounts: local accounts with roles and scrypt-hashed passwords, signing in and out, role grants
and password resets. Every account belongs to a person (govern.identity.people)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput
from govern.identity.people import account_usable, admin_remains, find_account, new_person
from govern.models import User, UserIdentity
from govern.models.change_counter import PRINCIPALS, bump_counter

ROLES = ("admin", "reviewer", "approver", "board", "auditor")
# scrypt with n=2**15, r=8, p=1: Werkzeug's default, spelled out so an upgrade cannot weaken it.
PASSWORD_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 12
_DUMMY_HASH = generate_password_hash("not-a-password", method=PASSWORD_METHOD)
# How much of an attempted username a failed sign-in's audit event keeps: enough to recognise a
# mistyped name, not a password pasted into the wrong field.
ATTEMPT_SHOWN = 32


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_matches(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def find_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar()


def authenticate_user(session: Session, username: str, password: str) -> User | None:
    """The usable account (active, of an active person) with this password, or None; the hash is
    checked even for an unknown name, so timing does not tell which usernames exist."""
    user = find_user(session, username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if password_matches(user, password) and account_usable(session, user) else None


def sign_in_with_password(session: Session, username: str, password: str, address: str) -> User | None:
    """authenticate_user, with the sign-in (via password) or the failed attempt in the audit trail."""
    user = authenticate_user(session, username, password)
    if user is None:
        known = find_user(session, username)
        record_event(session, actor="anonymous", action="user.sign_in_failed",
                     target=f"user:{known.id}" if known else "user:unknown",
                     after={"username": username[:ATTEMPT_SHOWN], "address": address[:100]})
    else:
        record_event(session, actor=f"user:{user.username}", action="user.sign_in",
                     target=f"user:{user.id}", after={"via": "password", "address": address[:100]})
    session.commit()
    return user


def check_roles(roles: frozenset[str]) -> None:
    unknown = sorted(roles - set(ROLES))
    if unknown:
        raise InvalidInput(f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}",
                           code="unknown_role")


def create_user(session: Session, *, actor: str, username: str, password: str,
                roles: frozenset[str]) -> User:
    """A local account with `roles`, belonging to a new person named after it."""
    if not username or len(username) > 150:
        raise InvalidInput("username must be 1 to 150 characters", code="invalid_username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters",
                           code="weak_password")
    check_roles(roles)
    if find_user(session, username) is not None:
        raise Conflict(f"user {username!r} already exists", code="user_exists")
    try:
        person = new_person(session, username)
        user = User(username=username, password_hash=hash_password(password),
                    roles=",".join(sorted(roles)), active=True, person_id=person.id)
        session.add(user)
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"user {username!r} already exists", code="user_exists") from None
    record_event(session, actor=actor, action="user.create", target=f"user:{user.id}",
                 after={"username": username, "roles": sorted(roles), "person_id": person.id})
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


def _is_sso(session: Session, user: User) -> bool:
    return session.execute(select(UserIdentity.id).where(UserIdentity.user_id == user.id)).first() is not None


def _set_roles(session: Session, *, actor: str, user: User, roles: frozenset[str]) -> User:
    if _is_sso(session, user):
        raise Conflict("a single sign-on account's roles come from its issuer's role mapping, at every "
                       "sign-in; change the mapping or the groups at the provider, or disable the person",
                       code="roles_from_issuer")
    before = sorted(user.role_set)
    if sorted(roles) == before:
        return user
    user.roles = ",".join(sorted(roles))
    bump_counter(session, PRINCIPALS)  # admin keys carry their owner's roles
    record_event(session, actor=actor, action="user.roles", target=f"user:{user.id}",
                 before={"roles": before}, after={"roles": sorted(roles)})
    session.commit()
    return user


def grant_role(session: Session, *, actor: str, user_id: int, role: str) -> User:
    """Give local account `user_id` the role (nothing changes if it already holds it)."""
    check_roles(frozenset({role}))
    user = find_account(session, user_id)
    return _set_roles(session, actor=actor, user=user, roles=user.role_set | {role})


def remove_role(session: Session, *, actor: str, user_id: int, role: str) -> User:
    """Take the role from local account `user_id`; the last usable admin keeps theirs (Conflict)."""
    check_roles(frozenset({role}))
    user = find_account(session, user_id)
    if role == "admin" and "admin" in user.role_set and not admin_remains(session, except_user=user.id):
        raise Conflict("this is the last active admin; grant another person the admin role first",
                       code="last_admin")
    return _set_roles(session, actor=actor, user=user, roles=user.role_set - {role})


def reset_password(session: Session, *, actor: str, user_id: int) -> str:
    """A new password for local account `user_id`, returned once and stored only as a hash; the
    account's sessions end. Conflict for a single sign-on account, which has no password."""
    user = find_account(session, user_id)
    if _is_sso(session, user):
        raise Conflict("a single sign-on account has no password here", code="no_password")
    password = new_password()
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    record_event(session, actor=actor, action="user.reset_password", target=f"user:{user.id}")
    session.commit()
    return password
