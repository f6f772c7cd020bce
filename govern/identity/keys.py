"""API keys: issue (shown once), list, change, suspend, revoke, rotate with an overlap window."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput, NotFound
from govern.identity.incident_holds import check_lift
from govern.identity.organisations import check_tier, find_org
from govern.identity.tokens import key_digest, new_key
from govern.models import ApiKey, Organisation, User
from govern.models.api_key import ADMIN, CLIENT, PEP
from govern.models.base import utcnow
from govern.models.change_counter import PRINCIPALS, bump_counter

# An overlap end this little in the past means "now": the caller read its clock a moment before.
NOW_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    kind: str
    name: str
    organisation: str | None
    user: str | None
    tier_cap: str | None
    status: str
    suspended: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.__dict__.items()
        }


@dataclass(frozen=True)
class IssuedKey:
    """A new key. `secret` is the whole key; it exists only in this object and is never stored."""

    secret: str
    info: KeyInfo


def key_status(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "suspended" if key.suspended else "active"


def _info(session: Session, key: ApiKey) -> KeyInfo:
    org = session.get(Organisation, key.org_id) if key.org_id else None
    user = session.get(User, key.user_id) if key.user_id else None
    previous = session.get(ApiKey, key.rotated_from_id) if key.rotated_from_id else None
    return KeyInfo(
        prefix=key.prefix, kind=key.kind, name=key.name, organisation=org.name if org else None,
        user=user.username if user else None, tier_cap=key.tier_cap,
        status=key_status(key, utcnow()), suspended=key.suspended, created_at=key.created_at,
        expires_at=key.expires_at, revoked_at=key.revoked_at, last_used_at=key.last_used_at,
        rotated_from=previous.prefix if previous else None,
    )


def find_key(session: Session, prefix: str) -> ApiKey:
    key = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar()
    if key is None:
        raise NotFound(f"no key with prefix {prefix!r}", code="key_not_found")
    return key


def get_key(session: Session, prefix: str) -> KeyInfo:
    return _info(session, find_key(session, prefix))


KEY_SORTS = {"created": ApiKey.created_at, "prefix": ApiKey.prefix, "name": ApiKey.name,
             "expires": ApiKey.expires_at, "last_used": ApiKey.last_used_at}


def list_keys(session: Session, org: int | str | None = None, *, kinds: Collection[str] | None = None,
              sort: str = "created", offset: int = 0, limit: int | None = None) -> list[KeyInfo]:
    """Keys of `org`, of `kinds`, ordered by a KEY_SORTS column (`-column` for newest or largest
    first; an unknown one means created); `limit` of them from `offset`, for paging."""
    column = KEY_SORTS.get(sort.removeprefix("-"), ApiKey.created_at)
    order = column.desc() if sort.startswith("-") else column.asc()
    query = select(ApiKey).order_by(order, ApiKey.id).offset(offset).limit(limit)
    if org is not None:
        query = query.where(ApiKey.org_id == find_org(session, org).id)
    if kinds is not None:
        query = query.where(ApiKey.kind.in_(kinds))
    return [_info(session, key) for key in session.execute(query).scalars()]


def _future(when: datetime | None, what: str) -> datetime | None:
    if when is not None and when <= utcnow():
        raise InvalidInput(f"{what} must be in the future", code="invalid_time")
    return when


def _save(session: Session, key: ApiKey, *, actor: str, action: str,
          before: dict[str, Any] | None, commit: bool = True) -> KeyInfo:
    session.flush()
    bump_counter(session, PRINCIPALS)
    info = _info(session, key)
    record_event(session, actor=actor, action=action, target=f"key:{key.prefix}", before=before,
                 after=info.as_dict())
    if commit:
        session.commit()
    return info


def issue_key(session: Session, *, actor: str, org: int | str | None = None,
              user_id: int | None = None, name: str = "", tier_cap: str | None = None,
              expires_at: datetime | None = None) -> IssuedKey:
    """A client key for an organisation, or an admin key for a user (exactly one of the two)."""
    kind = CLIENT if org is not None else ADMIN
    issued = _add_key(session, actor=actor, kind=kind, org=org, user_id=user_id, name=name,
                      tier_cap=tier_cap, expires_at=expires_at, rotated_from_id=None)
    session.commit()
    return issued


def issue_pep_key(session: Session, *, actor: str, name: str,
                  expires_at: datetime | None = None) -> IssuedKey:
    """A key for a policy enforcement point (a gateway): it asks AuthZEN questions about other
    subjects and belongs to no organisation or user, so it has no tier of its own."""
    if not name:
        raise InvalidInput("an enforcement-point key needs a name saying which gateway holds it",
                           code="invalid_name")
    issued = _add_key(session, actor=actor, kind=PEP, org=None, user_id=None, name=name,
                      tier_cap=None, expires_at=expires_at, rotated_from_id=None)
    session.commit()
    return issued


def _add_key(session: Session, *, actor: str, kind: str, org: int | str | None,
             user_id: int | None, name: str, tier_cap: str | None, expires_at: datetime | None,
             rotated_from_id: int | None) -> IssuedKey:
    owners = {CLIENT: (True, False), ADMIN: (False, True), PEP: (False, False)}[kind]
    if (org is not None, user_id is not None) != owners:
        raise InvalidInput("a client key belongs to an organisation, an admin key to a user, and an "
                           "enforcement-point key to neither", code="invalid_owner")
    if len(name) > 200:
        raise InvalidInput("key name must be at most 200 characters", code="invalid_name")
    prefix, secret = new_key()
    key = ApiKey(
        prefix=prefix, digest=key_digest(secret), kind=kind,
        name=name, org_id=find_org(session, org).id if org is not None else None, user_id=user_id,
        tier_cap=check_tier(session, tier_cap) if tier_cap is not None else None,
        expires_at=_future(expires_at, "expiry"), suspended=False, rotated_from_id=rotated_from_id,
    )
    session.add(key)
    info = _save(session, key, actor=actor, action="key.issue", before=None, commit=False)
    return IssuedKey(secret, info)


def update_key(session: Session, prefix: str, *, actor: str, name: str | None = None,
               tier_cap: str | None = None, clear_tier_cap: bool = False,
               suspended: bool | None = None, expires_at: datetime | None = None) -> KeyInfo:
    key = find_key(session, prefix)
    if key.revoked_at is not None:
        raise Conflict(f"key {prefix} is revoked", code="key_revoked")
    before = _info(session, key).as_dict()
    if name is not None:
        key.name = name
    if clear_tier_cap:
        key.tier_cap = None
    elif tier_cap is not None:
        key.tier_cap = check_tier(session, tier_cap)
    if suspended is not None:
        if key.suspended and not suspended:
            check_lift(session, f"key:{key.prefix}")
        key.suspended = suspended
    if expires_at is not None:
        key.expires_at = _new_expiry(session, key, expires_at)
    return _save(session, key, actor=actor, action="key.update", before=before)


def _new_expiry(session: Session, key: ApiKey, expires_at: datetime) -> datetime:
    """The expiry `key` may be given: an ended key stays ended, and a key rotated out ends no later
    than its overlap allows, so neither comes back to life through a changed expiry."""
    if key_status(key, utcnow()) == "expired":
        raise Conflict(f"key {key.prefix} has expired and stays ended; issue a new key",
                       code="key_ended")
    successor = session.execute(select(ApiKey.prefix).where(ApiKey.rotated_from_id == key.id)).scalar()
    if successor is not None and (key.expires_at is None or expires_at > key.expires_at):
        raise Conflict(f"key {key.prefix} was rotated out (to {successor}); its overlap can end "
                       "sooner, never later", code="key_rotated")
    checked = _future(expires_at, "expiry")
    assert checked is not None
    return checked


def revoke_key(session: Session, prefix: str, *, actor: str) -> KeyInfo:
    key = find_key(session, prefix)
    if key.revoked_at is not None:
        return _info(session, key)
    before = _info(session, key).as_dict()
    key.revoked_at = utcnow()
    return _save(session, key, actor=actor, action="key.revoke", before=before)


def rotate_key(session: Session, prefix: str, *, actor: str, old_valid_until: datetime) -> IssuedKey:
    """A new key with the same owner, name, cap and expiry; the old one keeps working until
    `old_valid_until` (now or later), so callers can switch over without an outage."""
    old = find_key(session, prefix)
    if key_status(old, utcnow()) in ("revoked", "expired"):
        raise Conflict(f"key {prefix} is {key_status(old, utcnow())} and cannot be rotated",
                       code="key_not_active")
    if old.suspended:
        # Its successor would start unsuspended: while an incident holds the suspension, that is a lift.
        check_lift(session, f"key:{old.prefix}")
    now = utcnow()
    if old_valid_until < now - NOW_TOLERANCE:
        raise InvalidInput("the old key's end of overlap cannot be in the past", code="invalid_time")
    old_valid_until = max(old_valid_until, now)
    before = _info(session, old).as_dict()
    issued = _add_key(
        session, actor=actor, kind=old.kind, org=old.org_id, user_id=old.user_id,
        name=old.name, tier_cap=old.tier_cap, expires_at=old.expires_at, rotated_from_id=old.id,
    )
    if old.expires_at is None or old.expires_at > old_valid_until:
        old.expires_at = old_valid_until
    _save(session, old, actor=actor, action="key.rotate", before=before)
    return issued
