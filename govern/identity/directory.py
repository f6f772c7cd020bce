"""Authenticating keys on the hot path: an in-process cache of key records by prefix.

The cache is emptied whenever the principals counter moves (see govern.decisions.runtime), so a
revocation anywhere is seen by every worker within one refresh interval. Last-used times are kept
in memory and written in one batch now and then, never once per request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, Select, bindparam, select, update

from govern.identity.tokens import digest_matches, prefix_of
from govern.models import ApiKey, Organisation, User
from govern.models.api_key import ADMIN, CLIENT, PEP
from govern.types import REASON_TEXT, Reason

# Past this many cached prefixes (unknown ones included) the cache starts again from empty, so a
# flood of made-up keys cannot grow it without bound.
MAX_CACHED = 200_000


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: int
    prefix: str
    digest: str
    kind: str
    suspended: bool
    tier_cap: str | None
    expires_at: float | None
    revoked: bool
    org_id: int | None
    org_name: str | None
    org_tier: str | None
    org_suspended: bool
    username: str | None
    user_roles: frozenset[str]


KIND_NAMES = {CLIENT: "a client key", ADMIN: "an admin key", PEP: "an enforcement-point (pep) key"}


class AuthFailure(Exception):
    """A refused credential: `prefix` for a key. For a token, `issuer` is the configured issuer it
    claims to come from, and `subject` is set only once its signature has verified. `message` says
    why for the caller (the reason's text unless something more precise is known)."""

    def __init__(self, reason: Reason, prefix: str | None, *, issuer: str | None = None,
                 subject: str | None = None, message: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.prefix = prefix
        self.issuer = issuer
        self.subject = subject
        self.message = message or REASON_TEXT[reason]


class KeyDirectory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._entries: dict[str, KeyEntry | None] = {}
        self._last_used: dict[int, float] = {}
        self._lock = threading.Lock()

    def forget_all(self) -> None:
        self._entries = {}

    def authenticate(self, raw_key: str | None, now: float, kind: str, *,
                     fresh: bool = False) -> KeyEntry:
        """The entry of a valid key of `kind` presented by its holder, or AuthFailure with the
        reason. Every endpoint authenticates every kind of key here, so that revocation, expiry
        and suspension mean the same everywhere.

        An admin or enforcement-point key is refused while suspended. A client key's suspension
        is a decision instead (a logged deny, reason key_suspended), which gateways act on.
        `fresh` reads the key from the database rather than from the cache, so a suspension or
        revocation holds at once on every worker (admin and enforcement-point keys); client keys,
        on the hot path, follow the cache within one refresh interval."""
        if not raw_key:
            raise AuthFailure(Reason.KEY_MISSING, None)
        prefix = prefix_of(raw_key)
        if prefix is None:
            raise AuthFailure(Reason.KEY_UNKNOWN, None)
        entry = self._load(prefix) if fresh else self._cached(prefix)
        if entry is None or not digest_matches(raw_key, entry.digest):
            raise AuthFailure(Reason.KEY_UNKNOWN, prefix)
        usable(entry, now)
        if entry.kind != kind:
            raise AuthFailure(Reason.KEY_WRONG_KIND, prefix, message=(
                f"this endpoint needs {KIND_NAMES[kind]}; the key sent is {KIND_NAMES[entry.kind]} (401)"))
        if entry.suspended and kind != CLIENT:
            raise AuthFailure(Reason.KEY_SUSPENDED, prefix)
        self._last_used[entry.key_id] = now
        return entry

    def lookup(self, prefix: str, now: float) -> KeyEntry:
        """The entry of a usable key named by its visible prefix, for questions asked *about* a key
        by someone else (an enforcement point); AuthFailure with the reason otherwise."""
        entry = self._cached(prefix)
        if entry is None:
            raise AuthFailure(Reason.KEY_UNKNOWN, prefix)
        usable(entry, now)
        return entry

    def client_entries(self) -> list[KeyEntry]:
        """Every client key that is not revoked, read in one query (for searches over subjects)."""
        with self._engine.connect() as conn:
            rows = conn.execute(self._query().where(ApiKey.kind == CLIENT, ApiKey.revoked_at.is_(None))
                                .order_by(ApiKey.prefix)).all()
        return [_entry(row) for row in rows]

    def _cached(self, prefix: str) -> KeyEntry | None:
        entries = self._entries
        if prefix in entries:
            return entries[prefix]
        entry = self._load(prefix)
        if len(entries) >= MAX_CACHED:
            entries = self._entries = {}
        entries[prefix] = entry
        return entry

    @staticmethod
    def _query() -> Select[*tuple[Any, ...]]:
        return (
            select(ApiKey.id, ApiKey.prefix, ApiKey.digest, ApiKey.kind, ApiKey.suspended,
                   ApiKey.tier_cap, ApiKey.expires_at, ApiKey.revoked_at, ApiKey.org_id,
                   Organisation.name, Organisation.tier, Organisation.suspended,
                   User.username, User.roles, User.active)
            .outerjoin(Organisation, Organisation.id == ApiKey.org_id)
            .outerjoin(User, User.id == ApiKey.user_id)
        )

    def _load(self, prefix: str) -> KeyEntry | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._query().where(ApiKey.prefix == prefix)).first()
        return None if row is None else _entry(row)

    def flush_last_used(self) -> int:
        """Write the remembered last-used times in one statement; returns how many keys."""
        with self._lock:
            pending, self._last_used = self._last_used, {}
        if not pending:
            return 0
        rows = [{"key_id": key_id, "at": datetime.fromtimestamp(ts, UTC)}
                for key_id, ts in pending.items()]
        statement = (update(ApiKey).where(ApiKey.id == bindparam("key_id"))
                     .values(last_used_at=bindparam("at")))
        with self._engine.begin() as conn:
            conn.execute(statement, rows)
        return len(rows)


def _entry(row: Row[*tuple[Any, ...]]) -> KeyEntry:
    (key_id, prefix, digest, kind, suspended, tier_cap, expires_at, revoked_at, org_id,
     org_name, org_tier, org_suspended, username, roles, user_active) = row
    return KeyEntry(
        key_id=key_id, prefix=prefix, digest=digest, kind=kind, suspended=suspended,
        tier_cap=tier_cap, expires_at=expires_at.timestamp() if expires_at else None,
        # An admin key of a deactivated user is as good as revoked.
        revoked=revoked_at is not None or (username is not None and not user_active),
        org_id=org_id, org_name=org_name, org_tier=org_tier, org_suspended=bool(org_suspended),
        username=username,
        user_roles=frozenset(r for r in (roles or "").split(",") if r),
    )


def usable(entry: KeyEntry, now: float) -> None:
    """Raise AuthFailure if the key is revoked or expired."""
    if entry.revoked:
        raise AuthFailure(Reason.KEY_REVOKED, entry.prefix)
    if entry.expires_at is not None and entry.expires_at <= now:
        raise AuthFailure(Reason.KEY_EXPIRED, entry.prefix)
