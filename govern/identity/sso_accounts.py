"""Accounts of people who sign in to the admin UI through an identity provider.

The identity (issuer + subject) is linked to its own account on first sign-in; a local account of
the same name is never taken over. The provider's groups decide the roles at every sign-in, so
removing someone from a group at the provider takes their role away at their next sign-in.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Forbidden
from govern.models import User, UserIdentity
from govern.models.base import utcnow

# Not a hash of anything: werkzeug refuses it, so an account made here has no password to guess.
NO_PASSWORD = "!sso"
MAX_USERNAME = 150


def _free_username(session: Session, wanted: str) -> str:
    base = wanted[:MAX_USERNAME - 4] or "user"
    candidate, number = base, 1
    while session.execute(select(User.id).where(User.username == candidate)).first() is not None:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def sign_in_identity(session: Session, *, issuer: str, subject: str, username: str,
                     roles: frozenset[str]) -> User:
    """The account of this identity with `roles`, made on first sign-in; Forbidden when the
    provider grants no govern role or the account was deactivated here."""
    link = session.execute(select(UserIdentity).where(UserIdentity.issuer == issuer,
                                                      UserIdentity.subject == subject)).scalar()
    actor = f"sso:{issuer}#{subject}"
    if not roles:
        raise Forbidden("your identity provider grants you no govern role", code="no_role")
    if link is None:
        user = User(username=_free_username(session, username), password_hash=NO_PASSWORD,
                    roles=",".join(sorted(roles)), active=True)
        session.add(user)
        session.flush()
        link = UserIdentity(user_id=user.id, issuer=issuer, subject=subject)
        session.add(link)
        record_event(session, actor=actor, action="user.create", target=f"user:{user.id}",
                     after={"username": user.username, "roles": sorted(roles), "issuer": issuer,
                            "subject": subject})
    else:
        user = session.get_one(User, link.user_id)
        if not user.active:
            raise Forbidden("this account is deactivated in govern", code="account_inactive")
        if user.role_set != roles:
            record_event(session, actor=actor, action="user.roles", target=f"user:{user.id}",
                         before={"roles": sorted(user.role_set)}, after={"roles": sorted(roles)})
            user.roles = ",".join(sorted(roles))
    link.last_login_at = utcnow()
    record_event(session, actor=actor, action="user.sign_in", target=f"user:{user.id}",
                 after={"via": "sso", "issuer": issuer})
    session.commit()
    return user
