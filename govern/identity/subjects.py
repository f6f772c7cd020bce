"""The subjects an enforcement point asks about through AuthZEN, resolved to the Caller the policy
decides for: an API key by its visible prefix, an organisation by its name, an OIDC identity by
issuer and subject.

Each subject type is a `SubjectKind`: how to resolve one subject and how to list every subject of
that type. A single check and a subject search go through the same conversion to a Caller, so a
search can never disagree with a check. Identities have no source yet and are unknown subjects;
the identity mapping plugs in by replacing `SubjectDirectory.kinds["identity"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from govern.identity.directory import AuthFailure, KeyDirectory, KeyEntry, usable
from govern.models import Organisation
from govern.models.api_key import CLIENT
from govern.policy.snapshot import PolicySnapshot
from govern.types import Caller, Reason

API_KEY = "api_key"
ORGANISATION = "organisation"
IDENTITY = "identity"

# Past this many cached organisation names (unknown ones included) the cache starts again.
MAX_CACHED = 100_000


@dataclass(frozen=True, slots=True)
class Subject:
    type: str
    id: str
    properties: Mapping[str, Any] = field(default_factory=dict)


class SubjectRefused(Exception):
    """The subject cannot be decided for (unknown, revoked, expired): the answer is a deny."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Listed:
    """One subject found by a search, with the caller the policy sees."""

    subject: Subject
    caller: Caller


@dataclass(frozen=True, slots=True)
class SubjectKind:
    resolve: Callable[[Subject, PolicySnapshot, float], Caller]
    list_all: Callable[[PolicySnapshot, float], list[Listed]]


@dataclass(frozen=True, slots=True)
class _Org:
    id: int
    name: str
    tier: str
    suspended: bool


def _org_caller(org: _Org, snapshot: PolicySnapshot) -> Caller:
    return Caller(org_id=org.id, org_name=org.name, key_id=0, key_prefix="",
                  tier=snapshot.effective_tier(org.tier, None), org_suspended=org.suspended,
                  key_suspended=False)


def _key_caller(entry: KeyEntry, snapshot: PolicySnapshot) -> Caller:
    if entry.kind != CLIENT or entry.org_id is None or entry.org_tier is None:
        # Admin and enforcement-point keys are never the subject of an access decision.
        raise SubjectRefused(Reason.UNKNOWN_SUBJECT)
    return Caller(org_id=entry.org_id, org_name=entry.org_name or "", key_id=entry.key_id,
                  key_prefix=entry.prefix, tier=snapshot.effective_tier(entry.org_tier, entry.tier_cap),
                  org_suspended=entry.org_suspended, key_suspended=entry.suspended,
                  tier_cap=entry.tier_cap)


def _unknown(_subject: Subject, _snapshot: PolicySnapshot, _now: float) -> Caller:
    raise SubjectRefused(Reason.UNKNOWN_SUBJECT)


def _none(_snapshot: PolicySnapshot, _now: float) -> list[Listed]:
    return []


class SubjectDirectory:
    """Resolves subjects per process; `forget_all` is called whenever principals change anywhere."""

    def __init__(self, engine: Engine, keys: KeyDirectory) -> None:
        self._engine = engine
        self._keys = keys
        self._orgs: dict[str, _Org | None] = {}
        self.kinds: dict[str, SubjectKind] = {
            API_KEY: SubjectKind(self._resolve_key, self._list_keys),
            ORGANISATION: SubjectKind(self._resolve_org, self._list_orgs),
            IDENTITY: SubjectKind(_unknown, _none),
        }

    def forget_all(self) -> None:
        self._orgs = {}

    def resolve(self, subject: Subject, snapshot: PolicySnapshot, now: float) -> Caller:
        """The caller the policy decides for; SubjectRefused when there is none."""
        kind = self.kinds.get(subject.type)
        if kind is None:
            raise SubjectRefused(Reason.UNKNOWN_SUBJECT)
        return kind.resolve(subject, snapshot, now)

    def list_all(self, subject_type: str, snapshot: PolicySnapshot, now: float) -> list[Listed]:
        """Every subject of a type that could be decided for, in a stable order."""
        kind = self.kinds.get(subject_type)
        return [] if kind is None else kind.list_all(snapshot, now)

    # -- API keys ------------------------------------------------------------------------------
    def _resolve_key(self, subject: Subject, snapshot: PolicySnapshot, now: float) -> Caller:
        try:
            entry = self._keys.lookup(subject.id, now)
        except AuthFailure as failure:
            raise SubjectRefused(Reason.UNKNOWN_SUBJECT if failure.reason == Reason.KEY_UNKNOWN
                                 else failure.reason) from None
        return _key_caller(entry, snapshot)

    def _list_keys(self, snapshot: PolicySnapshot, now: float) -> list[Listed]:
        listed = []
        for entry in self._keys.client_entries():
            try:
                usable(entry, now)
                caller = _key_caller(entry, snapshot)
            except (AuthFailure, SubjectRefused):
                continue
            listed.append(Listed(Subject(API_KEY, entry.prefix), caller))
        return listed

    # -- organisations -------------------------------------------------------------------------
    def _resolve_org(self, subject: Subject, snapshot: PolicySnapshot, _now: float) -> Caller:
        orgs = self._orgs
        if subject.id in orgs:
            org = orgs[subject.id]
        else:
            org = self._load_org(subject.id)
            if len(orgs) >= MAX_CACHED:
                orgs = self._orgs = {}
            orgs[subject.id] = org
        if org is None:
            raise SubjectRefused(Reason.UNKNOWN_SUBJECT)
        return _org_caller(org, snapshot)

    def _load_org(self, name: str) -> _Org | None:
        query = self._org_query().where(Organisation.name == name)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _Org(*row)

    def _list_orgs(self, snapshot: PolicySnapshot, _now: float) -> list[Listed]:
        with self._engine.connect() as conn:
            rows = conn.execute(self._org_query().order_by(Organisation.name)).all()
        return [Listed(Subject(ORGANISATION, org.name), _org_caller(org, snapshot))
                for org in (_Org(*row) for row in rows)]

    @staticmethod
    def _org_query() -> Any:
        return select(Organisation.id, Organisation.name, Organisation.tier, Organisation.suspended)
