"""Access requests: an organisation or an identity asks for a tier, a model or a capability with a
justification; admins grant it (through the two-person rule) or reject it with a reason; a grant
is time-bound and ends by itself (govern.governance.grants).

Who asks always comes from the credential (`Requester`), never from what they send. One request id
links the deny that led to it, the proposal that granted it and the first allowed decision that
followed, shown by `trail`. Audit actions: `access_request.create`, `access_request.decide` (granted
or rejected) and `access_request.expire` (an expiry, recorded when first seen after the fact).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput, NotFound
from govern.governance import proposals
from govern.governance.access import live_snapshot
from govern.governance.grants import check_not_requester, find_request, open_request, request_state
from govern.governance.proposal_kinds import Change
from govern.models import AccessRequest, Decision, Organisation
from govern.models.access_request import CAPABILITY, GRANTED, KINDS, PENDING, REJECTED, STATES, TIER
from govern.models.base import utcnow
from govern.models.proposal import PENDING as PROPOSAL_PENDING
from govern.policy.snapshot import PolicySnapshot

MAX_JUSTIFICATION = 2000
MAX_DURATION_SECONDS = 90 * 24 * 3600
# Past this many pending requests a holder is told to wait for a decision, so nobody floods admins.
MAX_PENDING = 20
EXPIRED = "expired"  # a granted request past its expiry (a status shown, not a stored state)
GRANT_KIND = "access_request.grant"


@dataclass(frozen=True)
class Requester:
    """Who asks, from the credential: an organisation (through a client key) or an identity, with
    the tier it has now and, for a key, its tier cap."""

    actor: str
    tier: str | None
    org_id: int | None = None
    issuer: str | None = None
    subject: str | None = None
    tier_cap: str | None = None


@dataclass(frozen=True)
class RequestInfo:
    id: int
    org_id: int | None
    org_name: str | None
    issuer: str | None
    subject: str | None
    requested_by: str
    kind: str
    tier: str
    model: str | None
    capability: str | None
    justification: str
    duration_seconds: int
    denied_decision_id: str | None
    created_at: datetime
    state: str
    status: str  # the state, or `expired` for a grant past its expiry
    proposal_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str
    granted_at: datetime | None
    expires_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in self.__dict__.items()}


@dataclass(frozen=True)
class Trail:
    """What one request id links: the deny that led to it, the proposal that decided it, and the
    first allowed decision under the grant (None where there is none, or none yet)."""

    request: RequestInfo
    deny: dict[str, Any] | None
    proposal: proposals.ProposalInfo | None
    first_allowed: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {"access_request": self.request.as_dict(), "deny": _json_row(self.deny),
                "proposal": self.proposal.as_dict() if self.proposal else None,
                "first_allowed": _json_row(self.first_allowed)}


def _json_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {**row, "created_at": row["created_at"].isoformat()}


def _info(row: AccessRequest, org_name: str | None, now: datetime) -> RequestInfo:
    expired = row.state == GRANTED and row.expires_at is not None and row.expires_at <= now
    return RequestInfo(
        row.id, row.org_id, org_name, row.issuer, row.subject, row.requested_by, row.kind, row.tier,
        row.model, row.capability, row.justification, row.duration_seconds, row.denied_decision_id,
        row.created_at, row.state, EXPIRED if expired else row.state, row.proposal_id, row.decided_by,
        row.decided_at, row.reason, row.granted_at, row.expires_at)


def _decision_row(row: Decision) -> dict[str, Any]:
    return {"decision_id": row.decision_id, "created_at": row.created_at,
            "allow": row.allow, "reason": row.reason, "tier": row.tier, "model": row.model,
            "capability": row.capability, "key_prefix": row.key_prefix}


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise InvalidInput(f"{name} must be 1 to {limit} characters", code=f"invalid_{name}")
    return value


def _holder_filter(requester: Requester) -> Any:
    if requester.org_id is not None:
        return AccessRequest.org_id == requester.org_id
    return (AccessRequest.issuer == requester.issuer) & (AccessRequest.subject == requester.subject)


def _own_deny(session: Session, requester: Requester, decision_id: str) -> Decision:
    """The holder's own deny; another holder's decision is as unknown as a made-up id."""
    row = session.get(Decision, decision_id)
    mine = row is not None and (
        row.org_id == requester.org_id if requester.org_id is not None
        else (row.issuer, row.subject) == (requester.issuer, requester.subject))
    if row is None or not mine:
        raise NotFound(f"no decision {decision_id} of yours", code="decision_not_found")
    if row.allow:
        raise Conflict(f"decision {decision_id} was an allow; there is nothing to ask for",
                       code="decision_allowed")
    return row


def _check_signed_off(snapshot: PolicySnapshot, model: str) -> None:
    """A model under governance with no sign-off in force is open to the top tier alone; a grant
    for it would stand in for the sign-off only its approvers can give."""
    access = snapshot.governed.get(model)
    if access is not None and access.open_from is None and not (access.retired or access.suspended):
        raise Conflict(f"{model} has no sign-off in force: its approvers open it, not an access request",
                       code="not_signed_off")


def _target(snapshot: PolicySnapshot, kind: str, tier: str | None, model: str | None,
            capability: str | None, deny: Decision | None) -> tuple[str, str | None, str | None]:
    """(tier, model, capability) asked for, completed from the deny and checked against the live
    policy: a model grant names no capability, a tier grant neither."""
    document = snapshot.document
    if kind == TIER:
        model = capability = None
    else:
        model = model or (deny.model if deny else None)
        if model is None or model not in document.models:
            raise InvalidInput("model must name a model of the policy", code="unknown_model")
        _check_signed_off(snapshot, model)
        capability = capability or (deny.capability if deny else None)
        if capability is not None and capability not in document.capabilities:
            raise InvalidInput("capability must name a capability of the policy",
                               code="unknown_capability")
        if tier is None and capability is not None:
            tier = snapshot.lowest_allowing_tier(model, capability)
            if tier is None:
                raise Conflict(f"no tier is allowed {capability} of {model}; a grant cannot open it",
                               code="no_tier_allows")
        if kind == CAPABILITY and capability is None:
            raise InvalidInput("name the capability, or the deny to take it from", code="missing_field")
    if tier is None:
        raise InvalidInput("name the tier, or a capability or deny to find it from", code="missing_field")
    if tier not in document.tiers:
        raise InvalidInput(f"tier is one of {', '.join(document.tiers)}", code="unknown_tier")
    if model is not None and capability is not None and \
            not snapshot.decide_tier(tier, model, capability).allow:
        raise Conflict(f"tier {tier} is not allowed {capability} of {model} either", code="would_not_allow")
    return tier, model, capability if kind == CAPABILITY else None


def create_request(session: Session, requester: Requester, *, kind: str, justification: str,
                   duration_seconds: int, tier: str | None = None, model: str | None = None,
                   capability: str | None = None, decision_id: str | None = None) -> RequestInfo:
    """Record a pending request for wider access, audited; commits.

    With `decision_id` (one of the holder's own denies) the model and capability default to the
    deny's; the tier defaults to the lowest tier the live policy allows them to. Raises InvalidInput
    for what is malformed or unknown, NotFound for a decision that is not the holder's, Conflict
    when the grant would change nothing (already allowed, a key's cap), when it would stand in for
    a sign-off (not_signed_off), or when too many wait already."""
    if kind not in KINDS:
        raise InvalidInput(f"kind is one of {', '.join(KINDS)}", code="invalid_kind")
    justification = _text(justification, "justification", MAX_JUSTIFICATION)
    if not 1 <= duration_seconds <= MAX_DURATION_SECONDS:
        raise InvalidInput(f"duration_seconds must be 1 to {MAX_DURATION_SECONDS}",
                           code="invalid_duration")
    if requester.tier is None:
        raise Conflict("the credential has no tier in the policy", code="unknown_tier")
    deny = _own_deny(session, requester, decision_id) if decision_id is not None else None
    snapshot = live_snapshot(session)
    tier, model, capability = _target(snapshot, kind, tier, model, capability, deny)
    if snapshot.higher_tier(requester.tier, tier) == requester.tier:
        raise Conflict(f"you already decide as {requester.tier}, which is {tier} or above",
                       code="already_allowed")
    cap = requester.tier_cap
    if cap is not None and snapshot.higher_tier(cap, tier) != cap:
        raise Conflict(f"this key is capped at tier {cap}; a grant does not lift a key's cap: ask "
                       "with a key without one", code="key_capped")
    pending = session.execute(select(func.count()).select_from(AccessRequest).where(
        _holder_filter(requester), AccessRequest.state == PENDING)).scalar_one()
    if pending >= MAX_PENDING:
        raise Conflict(f"{pending} of your requests wait for a decision already", code="too_many_pending")
    row = AccessRequest(
        org_id=requester.org_id, issuer=None if requester.org_id else requester.issuer,
        subject=None if requester.org_id else requester.subject, requested_by=requester.actor,
        kind=kind, tier=tier, model=model, capability=capability, justification=justification,
        duration_seconds=duration_seconds, denied_decision_id=decision_id, created_at=utcnow(),
        state=PENDING, reason="")
    session.add(row)
    session.flush()
    record_event(session, actor=requester.actor, action="access_request.create",
                 target=f"access_request:{row.id}",
                 after={**request_state(row), "justification": justification,
                        "denied_decision_id": decision_id})
    session.commit()
    return _get(session, row.id)


def _org_names(session: Session, rows: list[AccessRequest]) -> dict[int, str]:
    ids = {row.org_id for row in rows if row.org_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Organisation.id, Organisation.name)
                                .where(Organisation.id.in_(ids))).all())


def record_expiries(session: Session) -> int:
    """Write an `access_request.expire` event for each grant past its expiry not yet recorded;
    commits. The grant ended at its expiry whether or not this runs: it only makes the trail say so."""
    now = utcnow()
    rows = list(session.execute(select(AccessRequest).where(
        AccessRequest.state == GRANTED, AccessRequest.expires_at <= now,
        AccessRequest.expiry_recorded_at.is_(None)).with_for_update()).scalars())
    for row in rows:
        row.expiry_recorded_at = now
        record_event(session, actor="system:expiry", action="access_request.expire",
                     target=f"access_request:{row.id}", before={"state": GRANTED},
                     after={**request_state(row), "state": EXPIRED,
                            "expires_at": row.expires_at.isoformat() if row.expires_at else None})
    if rows:
        session.commit()
    return len(rows)


def _get(session: Session, request_id: int) -> RequestInfo:
    row = find_request(session, request_id)
    return _info(row, _org_names(session, [row]).get(row.org_id or 0), utcnow())


def get_request(session: Session, request_id: int) -> RequestInfo:
    record_expiries(session)
    return _get(session, request_id)


def get_own_request(session: Session, requester: Requester, request_id: int) -> RequestInfo:
    """A request of the holder's; another holder's is as unknown as a made-up id."""
    info = get_request(session, request_id)
    mine = (info.org_id == requester.org_id if requester.org_id is not None
            else (info.issuer, info.subject) == (requester.issuer, requester.subject))
    if not mine:
        raise NotFound(f"no access request {request_id}", code="access_request_not_found")
    return info


def list_requests(session: Session, state: str | None = None, *, limit: int = 200) -> list[RequestInfo]:
    """Requests newest first, those in `state` only when given (pending, granted, rejected)."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"state is one of {', '.join(STATES)}", code="invalid_state")
    record_expiries(session)
    query = select(AccessRequest).order_by(AccessRequest.id.desc()).limit(limit)
    if state is not None:
        query = query.where(AccessRequest.state == state)
    rows = list(session.execute(query).scalars())
    names, now = _org_names(session, rows), utcnow()
    return [_info(row, names.get(row.org_id or 0), now) for row in rows]


def _waiting_proposal(session: Session, row: AccessRequest) -> int | None:
    if row.proposal_id is None:
        return None
    waiting = proposals.get_proposal(session, row.proposal_id).state == PROPOSAL_PENDING
    return row.proposal_id if waiting else None


def approve(session: Session, request_id: int, *, actor: str, reason: str = "",
            host: bool = False) -> RequestInfo:
    """An admin approves: the grant is proposed for a second admin (applied alone, flagged, when
    there is none), or, when an earlier admin's proposal waits, this is the second admin's approval.
    Nobody approves a request of their own (any of their accounts), nor twice. `host`: the operator
    at the server's command line, who grants at once (flagged break_glass)."""
    row = open_request(session, request_id)
    check_not_requester(session, row, actor)
    waiting = None if host else _waiting_proposal(session, row)
    if waiting is not None:
        proposals.approve(session, waiting, actor=actor, reason=reason)
        return _get(session, request_id)
    outcome = proposals.submit(session, Change(GRANT_KIND, {"request_id": request_id, "reason": reason}),
                               actor=actor, host=host)
    if outcome.proposal is not None:
        row = find_request(session, request_id)
        row.proposal_id = outcome.proposal.id
        session.commit()
    return _get(session, request_id)


def reject(session: Session, request_id: int, *, actor: str, reason: str) -> RequestInfo:
    """An admin rejects a pending request with a reason (and the proposal to grant it, if one
    waits), audited; commits."""
    reason = _text(reason, "reason", proposals.MAX_REASON)
    row = open_request(session, request_id)
    waiting = _waiting_proposal(session, row)
    if waiting is not None:
        proposals.reject(session, waiting, actor=actor, reason=reason)
    row = open_request(session, request_id, lock=True)
    row.state, row.decided_by, row.decided_at, row.reason = REJECTED, actor, utcnow(), reason
    record_event(session, actor=actor, action="access_request.decide", target=f"access_request:{row.id}",
                 before={"state": PENDING}, after={**request_state(row), "decided_by": actor,
                                                   "reason": reason})
    session.commit()
    return _get(session, request_id)


def _first_allowed(session: Session, info: RequestInfo) -> Decision | None:
    """The holder's first allowed decision under the grant: for a tier grant one at that tier,
    for a model or capability grant one about it, made while the grant was in force."""
    if info.granted_at is None or info.expires_at is None:
        return None
    # Decision ids begin with their time in hex microseconds, so the id bounds the window.
    after = f"{int(info.granted_at.timestamp() * 1e6):014x}"
    until = f"{int(info.expires_at.timestamp() * 1e6):014x}"
    query = select(Decision).where(Decision.allow.is_(True), Decision.decision_id >= after,
                                   Decision.decision_id < until)
    if info.org_id is not None:
        query = query.where(Decision.org_id == info.org_id)
    else:
        query = query.where(Decision.issuer == info.issuer, Decision.subject == info.subject)
    if info.kind == TIER:
        query = query.where(Decision.tier == info.tier)
    if info.model is not None:
        query = query.where(Decision.model == info.model)
    if info.capability is not None:
        query = query.where(Decision.capability == info.capability)
    return session.execute(query.order_by(Decision.decision_id).limit(1)).scalar()


def trail(session: Session, request_id: int) -> Trail:
    """The request and what its id links: deny, proposal, first allowed decision."""
    info = get_request(session, request_id)
    deny = session.get(Decision, info.denied_decision_id) if info.denied_decision_id else None
    proposal = proposals.get_proposal(session, info.proposal_id) if info.proposal_id else None
    first = _first_allowed(session, info)
    return Trail(info, _decision_row(deny) if deny else None, proposal,
                 _decision_row(first) if first else None)
