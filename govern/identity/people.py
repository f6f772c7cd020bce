"""People behind accounts: who is the same person for separation of duties, linking accounts,
disabling and re-enabling a person, and the list of people with their accounts.

Governance records name their actor as `user:<username>`; a username is never reused or renamed,
so the actor string finds its account and the account its person. Actors that are no account
(`cli:...`, `test:...`) are only ever the same person as the identical string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput, NotFound
from govern.models import Person, User, UserIdentity
from govern.models.base import get_or_not_found

ACCOUNT_ACTOR = "user:"
MAX_NAME = 200
MAX_EMAIL = 320


def person_of(session: Session, actor: str) -> int | None:
    """The id of the person acting as `actor` (`user:<username>`), or None for any other actor."""
    if not actor.startswith(ACCOUNT_ACTOR):
        return None
    username = actor.removeprefix(ACCOUNT_ACTOR)
    return session.execute(select(User.person_id).where(User.username == username)).scalar()


def person_key(session: Session, actor: str) -> str:
    """One string per person: `person:<id>` for an account's actor, the actor itself otherwise."""
    person_id = person_of(session, actor)
    return actor if person_id is None else f"person:{person_id}"


def same_person(session: Session, actor: str, other: str) -> bool:
    return actor == other or person_key(session, actor) == person_key(session, other)


def is_among(session: Session, actor: str, others: Iterable[str]) -> bool:
    """Whether the person acting as `actor` is the person behind any of `others` (any account)."""
    return any(same_person(session, actor, other) for other in others)


def normal_email(email: str | None) -> str | None:
    """An e-mail address as people are matched by it (lower case), or None; InvalidInput if it
    is not shaped like an address."""
    if email is None or not email.strip():
        return None
    address = email.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local or not domain or len(address) > MAX_EMAIL or any(c.isspace() for c in address):
        raise InvalidInput(f"{email!r} is not an e-mail address", code="invalid_email")
    return address


def new_person(session: Session, display_name: str, email: str | None = None) -> Person:
    """A new active person in the caller's transaction (flushed, not committed)."""
    person = Person(display_name=display_name[:MAX_NAME] or "unnamed", email=email, active=True)
    session.add(person)
    session.flush()
    return person


def find_person(session: Session, person_id: int) -> Person:
    return get_or_not_found(session, Person, person_id, f"no person with id {person_id}", "person_not_found")


def find_account(session: Session, user_id: int) -> User:
    return get_or_not_found(session, User, user_id, f"no account with id {user_id}", "user_not_found")


def account_named(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise NotFound(f"no account named {username!r}", code="user_not_found")
    return user


def account_usable(session: Session, user: User) -> bool:
    """The account may act: it is active and so is its person."""
    return user.active and find_person(session, user.person_id).active


def active_account(session: Session, username: str) -> User | None:
    """The account of this name if it and its person are active (checked on every request)."""
    user = session.execute(select(User).where(User.username == username)).scalar()
    return user if user is not None and account_usable(session, user) else None


def _facts(person: Person) -> dict[str, Any]:
    return {"display_name": person.display_name, "email": person.email, "active": person.active}


def update_person(session: Session, *, actor: str, person_id: int, display_name: str | None = None,
                  email: str | None = None, clear_email: bool = False) -> Person:
    """Change a person's display name or e-mail. The e-mail is what an authoritative issuer links
    new identities by; no two people share one (Conflict)."""
    person = find_person(session, person_id)
    before = _facts(person)
    if display_name is not None:
        if not display_name.strip() or len(display_name) > MAX_NAME:
            raise InvalidInput(f"a display name is 1 to {MAX_NAME} characters", code="invalid_name")
        person.display_name = display_name.strip()
    if clear_email:
        person.email = None
    elif email is not None:
        person.email = normal_email(email)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"another person already has the e-mail {email}", code="email_taken") from None
    record_event(session, actor=actor, action="person.update", target=f"person:{person.id}",
                 before=before, after=_facts(person))
    session.commit()
    return person


def link_account(session: Session, *, actor: str, user_id: int, person_id: int) -> User:
    """Make account `user_id` one of person `person_id`'s accounts. Roles stay as they are: linking
    never adds a role. An account of a disabled person cannot be moved away (Conflict): that would
    bring it back without re-enabling the person."""
    user = find_account(session, user_id)
    target = find_person(session, person_id)
    if user.person_id == target.id:
        return user
    if not find_person(session, user.person_id).active:
        raise Conflict("this account's person is disabled; re-enable them before moving the account",
                       code="person_disabled")
    before = {"person_id": user.person_id}
    user.person_id = target.id
    record_event(session, actor=actor, action="user.link", target=f"user:{user.id}",
                 before=before, after={"person_id": target.id, "roles": sorted(user.role_set)})
    session.commit()
    return user


def leaves_a_single_admin(session: Session, user: User, roles: frozenset[str]) -> bool:
    """Whether giving `user` exactly `roles` takes the admin role from one of the last two people
    holding it (on any account, usable or not), leaving one admin free to act alone."""
    def admin_people(this_account: frozenset[str]) -> set[int]:
        others = session.execute(select(User.person_id, User.roles).where(User.id != user.id)).all()
        people = {person for person, held in others if "admin" in held.split(",")}
        return people | ({user.person_id} if "admin" in this_account else set())

    before, after = admin_people(user.role_set), admin_people(roles)
    return len(after) < len(before) and len(after) <= 1


def admin_remains(session: Session, *, except_person: int | None = None,
                  except_user: int | None = None) -> bool:
    """Whether a usable account holding the admin role is left without this person or account."""
    query = (select(User.roles).join(Person, Person.id == User.person_id)
             .where(User.active.is_(True), Person.active.is_(True)))
    if except_person is not None:
        query = query.where(Person.id != except_person)
    if except_user is not None:
        query = query.where(User.id != except_user)
    return any("admin" in roles.split(",") for roles in session.execute(query).scalars())


def set_person_active(session: Session, *, actor: str, person_id: int, active: bool) -> Person:
    """Disable or re-enable a person. Disabling stops every account of theirs at once: sessions
    are refused from the next request on (and stay ended after a re-enable), admin keys too."""
    person = find_person(session, person_id)
    if person.active == active:
        return person
    accounts = list(session.execute(select(User).where(User.person_id == person.id)).scalars())
    if (not active and any("admin" in user.role_set and user.active for user in accounts)
            and not admin_remains(session, except_person=person.id)):
        raise Conflict("this is the last active admin; grant another person the admin role first",
                       code="last_admin")
    person.active = active
    if not active:
        for user in accounts:
            user.session_epoch += 1
    record_event(session, actor=actor, action="person.enable" if active else "person.disable",
                 target=f"person:{person.id}", before={"active": not active}, after={"active": active})
    session.commit()
    return person


@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    kind: str  # "local" or "sso"
    issuer: str | None
    roles: list[str]
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class PersonInfo:
    id: int
    display_name: str
    email: str | None
    active: bool
    accounts: list[AccountInfo]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "display_name": self.display_name, "email": self.email,
                "active": self.active, "accounts": [a.as_dict() for a in self.accounts]}


PEOPLE_SORTS = {"made": Person.id, "name": Person.display_name, "email": Person.email}


def list_people(session: Session, person_id: int | None = None, *, sort: str = "made", offset: int = 0,
                limit: int | None = None) -> list[PersonInfo]:
    """Every person (or just person `person_id`) with their accounts, ordered by a PEOPLE_SORTS
    column (`-column` for the other way; an unknown one means made); `limit` from `offset`."""
    column = PEOPLE_SORTS.get(sort.removeprefix("-"), Person.id)
    order = column.desc() if sort.startswith("-") else column.asc()
    people_query = select(Person).order_by(order, Person.id).offset(offset).limit(limit)
    if person_id is not None:
        people_query = people_query.where(Person.id == person_id)
    listed = list(session.execute(people_query).scalars())
    account_query = select(User).where(User.person_id.in_([p.id for p in listed])).order_by(User.id)
    users = list(session.execute(account_query).scalars())
    links: dict[int, UserIdentity] = {link.user_id: link for link in session.execute(
        select(UserIdentity).where(UserIdentity.user_id.in_([u.id for u in users]))).scalars()}
    accounts: dict[int, list[AccountInfo]] = {}
    for user in users:
        link = links.get(user.id)
        accounts.setdefault(user.person_id, []).append(AccountInfo(
            id=user.id, username=user.username, kind="sso" if link else "local",
            issuer=link.issuer if link else None, roles=sorted(user.role_set), active=user.active,
            created_at=user.created_at, last_login_at=link.last_login_at if link else None))
    return [PersonInfo(id=p.id, display_name=p.display_name, email=p.email, active=p.active,
                       accounts=accounts.get(p.id, []))
            for p in listed]


def get_person(session: Session, person_id: int) -> PersonInfo:
    """One person with their accounts; NotFound if there is none."""
    found = list_people(session, find_person(session, person_id).id)
    return found[0]
