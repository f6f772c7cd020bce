"""Organisations: create, change, suspend, delete; every change audited and propagated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput, NotFound
from govern.identity.incident_holds import check_lift
from govern.models import ApiKey, Organisation
from govern.models.change_counter import PRINCIPALS, bump_counter
from govern.policy.store import current_document


@dataclass(frozen=True)
class OrgInfo:
    id: int
    name: str
    tier: str
    suspended: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "tier": self.tier, "suspended": self.suspended,
                "created_at": self.created_at.isoformat()}


def _info(org: Organisation) -> OrgInfo:
    return OrgInfo(org.id, org.name, org.tier, org.suspended, org.created_at)


def check_tier(session: Session, tier: str) -> str:
    tiers = current_document(session).tiers
    if tier not in tiers:
        raise InvalidInput(f"unknown tier {tier!r}; tiers are {', '.join(tiers)}", code="unknown_tier")
    return tier


def _valid_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInput("organisation name must be 1 to 200 characters", code="invalid_name")
    return name.strip()


def find_org(session: Session, ref: int | str) -> Organisation:
    """By id or by name."""
    column = Organisation.id if isinstance(ref, int) else Organisation.name
    org = session.execute(select(Organisation).where(column == ref)).scalar()
    if org is None:
        raise NotFound(f"no organisation {ref!r}", code="org_not_found")
    return org


def list_orgs(session: Session) -> list[OrgInfo]:
    return [_info(o) for o in session.execute(select(Organisation).order_by(Organisation.name)).scalars()]


def get_org(session: Session, ref: int | str) -> OrgInfo:
    return _info(find_org(session, ref))


def _commit(session: Session, org: Organisation, *, actor: str, action: str,
            before: dict[str, Any] | None) -> OrgInfo:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"an organisation named {org.name!r} already exists", code="org_exists") from None
    bump_counter(session, PRINCIPALS)
    info = _info(org)
    record_event(session, actor=actor, action=action, target=f"org:{org.id}", before=before,
                 after=info.as_dict())
    session.commit()
    return info


def _not_named_in_policy(session: Session, name: str, change: str) -> None:
    """The policy sets budgets by organisation name: renamed or deleted, an organisation would
    leave them (and a new organisation of that name would get them)."""
    if name in current_document(session).organisation_budgets:
        raise Conflict(f"organisation {name!r} has budgets of its own in the policy; remove them from "
                       f"the policy's organisation_budgets before it is {change}", code="org_in_policy")


def create_org(session: Session, *, actor: str, name: str, tier: str) -> OrgInfo:
    org = Organisation(name=_valid_name(name), tier=check_tier(session, tier), suspended=False)
    session.add(org)
    return _commit(session, org, actor=actor, action="org.create", before=None)


def update_org(session: Session, ref: int | str, *, actor: str, name: str | None = None,
               tier: str | None = None, suspended: bool | None = None) -> OrgInfo:
    org = find_org(session, ref)
    before = _info(org).as_dict()
    if name is not None and name != org.name:
        _not_named_in_policy(session, org.name, "renamed")
        org.name = _valid_name(name)
    if tier is not None:
        org.tier = check_tier(session, tier)
    if suspended is not None:
        if org.suspended and not suspended:
            check_lift(session, f"org:{org.id}")
        org.suspended = suspended
    return _commit(session, org, actor=actor, action="org.update", before=before)


def delete_org(session: Session, ref: int | str, *, actor: str) -> None:
    """Only an organisation without keys can go: revoked keys stay as the record of who held what."""
    org = find_org(session, ref)
    _not_named_in_policy(session, org.name, "deleted")
    keys = session.execute(select(func.count()).where(ApiKey.org_id == org.id)).scalar_one()
    if keys:
        raise Conflict(f"organisation {org.name!r} still has {keys} key(s); suspend it instead",
                       code="org_has_keys")
    before = _info(org).as_dict()
    session.delete(org)
    bump_counter(session, PRINCIPALS)
    record_event(session, actor=actor, action="org.delete", target=f"org:{org.id}", before=before)
    session.commit()
