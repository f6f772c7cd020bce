"""Accounts of people who sign in to the admin UI through an identity provider.

The identity (issuer + subject) is linked to its own account on first sign-in; a local account of
the same name is never taken over. The provider's groups decide the roles at every sign-in, so
removing someone from a group at the provider takes their role away at their next sign-in.

Which person a new identity's account belongs to — the one rule, so no issuer can take over a
person by asserting their e-mail:

- If the issuer is authoritative for the domain of the identity's e-mail (its `sso` section lists
  the domain in `authoritative_domains`) and the e-mail is verified (`email_verified` is exactly
  true), the account joins the person whose e-mail is that address, and only that person; with
  none, a new person is made and given the address (vouched for by the issuer).
- Otherwise the account gets a new person of its own, whose e-mail stays empty: an address that
  no authoritative issuer vouched for is never recorded where a later link could match it.

Only a person's e-mail counts, never an account's name. Joining a person adds no role: the new
account holds exactly what the issuer's role mapping grants. A disabled person's identities,
old or new, cannot sign in. An admin can still link accounts by hand (govern.identity.people).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Forbidden, InvalidInput
from govern.identity.people import account_usable, leaves_a_single_admin, new_person, normal_email
from govern.models import Person, User, UserIdentity
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


def vouched_email(email: object, email_verified: object,
                  authoritative_domains: Collection[str]) -> str | None:
    """The identity's address if the issuer may speak for it (verified, in an authoritative
    domain), else None."""
    if email_verified is not True or not isinstance(email, str):
        return None
    try:
        address = normal_email(email)
    except InvalidInput:
        return None
    if address is None or address.rpartition("@")[2] not in authoritative_domains:
        return None
    return address


def _person_for(session: Session, display_name: str, vouched: str | None) -> tuple[Person, bool]:
    """(person, joined an existing person) for a new identity, by the rule of this module."""
    if vouched is not None:
        existing = session.execute(select(Person).where(Person.email == vouched)).scalar()
        if existing is not None:
            return existing, True
    return new_person(session, display_name, vouched), False


def _set_roles(session: Session, user: User, roles: frozenset[str], actor: str) -> None:
    """The account holds exactly the roles the provider's groups grant now (audited if changed).

    Except the admin role of one of the last two admins: taking it would leave the other free to
    act alone, which here takes a second person (or the host operator), not a provider's groups.
    The sign-in is refused and nothing changes until an admin takes the role in govern."""
    if leaves_a_single_admin(session, user, roles):
        record_event(session, actor=actor, action="sso.admin_kept", target=f"user:{user.id}",
                     before={"roles": sorted(user.role_set)}, after={"roles": sorted(roles)})
        session.commit()
        raise Forbidden("your identity provider no longer grants you the admin role, but you are one of "
                        "the last two admins, so only govern can take it (another admin on the People "
                        "page, or the host operator's `govern users remove-role`); until then this "
                        "sign-in is refused", code="last_admins_role")
    if user.role_set != roles:
        record_event(session, actor=actor, action="user.roles", target=f"user:{user.id}",
                     before={"roles": sorted(user.role_set)}, after={"roles": sorted(roles)})
        user.roles = ",".join(sorted(roles))


def sign_in_identity(session: Session, *, issuer: str, subject: str, username: str,
                     roles: frozenset[str], email: object = None, email_verified: object = False,
                     display_name: str | None = None,
                     authoritative_domains: Collection[str] = ()) -> User:
    """The account of this identity with `roles`, made on first sign-in; Forbidden when the
    provider grants no govern role or the account or its person was deactivated here."""
    link = session.execute(select(UserIdentity).where(UserIdentity.issuer == issuer,
                                                      UserIdentity.subject == subject)).scalar()
    actor = f"sso:{issuer}#{subject}"
    if not roles:
        if link is not None:
            _set_roles(session, session.get_one(User, link.user_id), roles, actor)
            # Kept although the sign-in is refused: the account's sessions and keys lose the
            # roles the provider no longer grants.
            session.commit()
        raise Forbidden("your identity provider grants you no govern role", code="no_role")
    if link is None:
        vouched = vouched_email(email, email_verified, authoritative_domains)
        person, joined = _person_for(session, display_name or username, vouched)
        user = User(username=_free_username(session, username), password_hash=NO_PASSWORD,
                    roles=",".join(sorted(roles)), active=True, person_id=person.id)
        session.add(user)
        session.flush()
        link = UserIdentity(user_id=user.id, issuer=issuer, subject=subject)
        session.add(link)
        record_event(session, actor=actor, action="user.create", target=f"user:{user.id}",
                     after={"username": user.username, "roles": sorted(roles), "issuer": issuer,
                            "subject": subject, "person_id": person.id})
        if joined:
            record_event(session, actor=actor, action="user.link", target=f"user:{user.id}",
                         after={"person_id": person.id, "roles": sorted(roles),
                                "via": "authoritative_issuer", "email": vouched})
    else:
        user = session.get_one(User, link.user_id)
        _set_roles(session, user, roles, actor)
    if not account_usable(session, user):
        # Nothing of this attempt is kept: the transaction is not committed.
        session.rollback()
        raise Forbidden("this account is deactivated in govern", code="account_inactive")
    link.last_login_at = utcnow()
    record_event(session, actor=actor, action="user.sign_in", target=f"user:{user.id}",
                 after={"via": "sso", "issuer": issuer})
    session.commit()
    return user
