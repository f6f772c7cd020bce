"""Time-bound grants from approved access requests: what the decision runtime reads, and the one
service function that grants a request (applied through the two-person rule, see
govern.governance.proposal_kinds).

A grant lets its holder (an organisation, or an identity: issuer + subject) decide as a higher
tier, everywhere or for one model or one capability of one model, until its expiry. It never
goes round the policy: the holder's questions are still answered by the policy snapshot, for the
granted tier, so governance (sign-offs, suspensions, retirements) and a key's tier cap still apply.
A grant ends at `expires_at` on every worker whatever was loaded, because every lookup compares
it with the time of the question; loading follows the principals change counter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, Forbidden, NotFound
from govern.identity.people import is_among
from govern.models import AccessRequest, User, UserIdentity
from govern.models.access_request import GRANTED, PENDING
from govern.models.base import utcnow
from govern.models.change_counter import PRINCIPALS, bump_counter
from govern.policy.snapshot import PolicySnapshot

# An organisation's id, or an identity's (issuer, subject).
Holder = int | tuple[str, str]


@dataclass(frozen=True, slots=True)
class Grant:
    request_id: int
    tier: str
    model: str | None  # None: every model
    capability: str | None  # None: every capability
    expires_at: float  # epoch seconds

    def covers(self, model: str | None, capability: str | None, now: float) -> bool:
        return (now < self.expires_at and (self.model is None or self.model == model)
                and (self.capability is None or self.capability == capability))


class Grants:
    """The grants loaded at one moment, by holder. Asking costs a dict lookup for a holder
    without grants, which is nearly every caller."""

    def __init__(self, by_holder: Mapping[Holder, tuple[Grant, ...]] | None = None) -> None:
        self._by_holder = dict(by_holder or {})

    def __bool__(self) -> bool:
        return bool(self._by_holder)

    def tiers(self, holder: Holder | None, model: str | None, capability: str | None,
              now: float) -> Iterator[str]:
        """The tiers the holder's grants in force at `now` give it for (model, capability); with
        model and capability None, only the grants of a whole tier."""
        for grant in self._by_holder.get(holder, ()) if holder is not None else ():
            if grant.covers(model, capability, now):
                yield grant.tier

    def tier_for(self, snapshot: PolicySnapshot, tier: str, cap: str | None, holder: Holder | None,
                 model: str | None, capability: str | None, now: float) -> str:
        """The tier the holder decides as: `tier` (its organisation's or identity's), raised by its
        grants in force for (model, capability), then held to the key's cap. `tier` may be capped
        already: raised and capped again it comes out the same."""
        for granted in self.tiers(holder, model, capability, now):
            tier = snapshot.higher_tier(tier, granted)
        return snapshot.effective_tier(tier, cap)


def holder_of(org_id: int | None, issuer: str | None, subject: str | None) -> Holder | None:
    if org_id is not None:
        return org_id
    if issuer is not None and subject is not None:
        return (issuer, subject)
    return None


def load_grants(session: Session, now: datetime) -> Grants:
    """Every grant in force at `now`, read in one query."""
    by_holder: dict[Holder, list[Grant]] = {}
    rows = session.execute(select(AccessRequest).where(
        AccessRequest.state == GRANTED, AccessRequest.expires_at > now)).scalars()
    for row in rows:
        holder = holder_of(row.org_id, row.issuer, row.subject)
        if holder is None or row.expires_at is None:
            continue
        by_holder.setdefault(holder, []).append(
            Grant(row.id, row.tier, row.model, row.capability, row.expires_at.timestamp()))
    return Grants({holder: tuple(grants) for holder, grants in by_holder.items()})


def find_request(session: Session, request_id: int, *, lock: bool = False) -> AccessRequest:
    query = select(AccessRequest).where(AccessRequest.id == request_id)
    row = session.execute(query.with_for_update() if lock else query).scalar()
    if row is None:
        raise NotFound(f"no access request {request_id}", code="access_request_not_found")
    return row


def requester_actors(session: Session, row: AccessRequest) -> list[str]:
    """Who asked, as actors: the credential's, and for an identity the accounts that sign in as it
    (one person may hold both an admin account and the identity that asked)."""
    actors = [row.requested_by]
    if row.issuer is not None and row.subject is not None:
        actors += [f"user:{name}" for name in session.execute(
            select(User.username).join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.issuer == row.issuer, UserIdentity.subject == row.subject)).scalars()]
    return actors


def check_not_requester(session: Session, row: AccessRequest, actor: str) -> None:
    """Nobody decides on their own request, from any of their accounts."""
    if is_among(session, actor, requester_actors(session, row)):
        raise Forbidden("you asked for this access; another admin must decide on it",
                        code="own_access_request")


def open_request(session: Session, request_id: int, *, lock: bool = False) -> AccessRequest:
    row = find_request(session, request_id, lock=lock)
    if row.state != PENDING:
        raise Conflict(f"access request {request_id} is already {row.state}",
                       code="access_request_decided")
    return row


def request_state(row: AccessRequest) -> dict[str, Any]:
    """What a proposal to grant the request is checked against when approved."""
    return {"request": row.id, "state": row.state, "org_id": row.org_id, "issuer": row.issuer,
            "subject": row.subject, "kind": row.kind, "tier": row.tier, "model": row.model,
            "capability": row.capability, "duration_seconds": row.duration_seconds}


def grant_request(session: Session, request_id: int, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Grant a pending request from now for its duration, audited (`access_request.decide`) and
    propagated to every worker; commits. Only the proposal kind `access_request.grant` calls it,
    so a grant is always two people's decision (or a single admin's, flagged)."""
    row = open_request(session, request_id, lock=True)
    check_not_requester(session, row, actor)
    now = utcnow()
    row.state, row.decided_by, row.decided_at, row.reason = GRANTED, actor, now, reason
    row.granted_at, row.expires_at = now, now + timedelta(seconds=row.duration_seconds)
    bump_counter(session, PRINCIPALS)
    record_event(session, actor=actor, action="access_request.decide", target=f"access_request:{row.id}",
                 before={"state": PENDING},
                 after={**request_state(row), "decided_by": actor, "reason": reason,
                        "granted_at": now.isoformat(), "expires_at": row.expires_at.isoformat()})
    session.commit()
    return {"access_request": row.id, "state": row.state, "expires_at": row.expires_at.isoformat()}
