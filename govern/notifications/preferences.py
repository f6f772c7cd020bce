"""Who is e-mailed an event: the people holding a role it concerns (govern.notifications.catalogue)
on an active account, with an e-mail address, who have not muted its type."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.models.notification_mute import NotificationMute
from govern.models.person import Person
from govern.models.user import User
from govern.notifications.catalogue import EVENT_TYPES, check_types


def _roles_by_person(session: Session) -> dict[int, set[str]]:
    rows = session.execute(select(User).join(Person, Person.id == User.person_id)
                           .where(User.active.is_(True), Person.active.is_(True))).scalars()
    roles: dict[int, set[str]] = {}
    for user in rows:
        roles.setdefault(user.person_id, set()).update(user.role_set)
    return roles


def recipients(session: Session, event_type: str) -> list[str]:
    """The e-mail addresses `event_type` goes to, sorted."""
    concerned = EVENT_TYPES[event_type].roles
    people = {person for person, roles in _roles_by_person(session).items() if roles & concerned}
    muted = set(session.execute(select(NotificationMute.person_id)
                                .where(NotificationMute.event_type == event_type)).scalars())
    if not people - muted:
        return []
    emails = session.execute(select(Person.email).where(Person.id.in_(people - muted),
                                                        Person.email.is_not(None))).scalars()
    return sorted(email for email in emails if email)


def concerning(session: Session, person_id: int) -> list[str]:
    """The event types any of the person's active accounts has a role for, in catalogue order."""
    roles = _roles_by_person(session).get(person_id, set())
    return [name for name, kind in EVENT_TYPES.items() if kind.roles & roles]


def chosen(session: Session, person_id: int) -> dict[str, bool]:
    """Each type concerning the person → whether they receive it (by default, all)."""
    muted = set(session.execute(select(NotificationMute.event_type)
                                .where(NotificationMute.person_id == person_id)).scalars())
    return {name: name not in muted for name in concerning(session, person_id)}


def choose(session: Session, person_id: int, *, actor: str, receive: list[str]) -> dict[str, bool]:
    """Receive exactly `receive` of the types that concern the person; the others are muted."""
    wanted = set(check_types(receive)) if receive else set()
    before = chosen(session, person_id)
    session.execute(delete(NotificationMute).where(NotificationMute.person_id == person_id))
    session.add_all(NotificationMute(person_id=person_id, event_type=name)
                    for name in EVENT_TYPES if name not in wanted)
    session.flush()
    after = chosen(session, person_id)
    if after != before:
        record_event(session, actor=actor, action="person.notifications", target=f"person:{person_id}",
                     before=before, after=after)
    session.commit()
    return after
