"""The two-person rule: a guarded change is a proposal until a second admin approves it.

`submit` is the one way in for every change that can widen access or grant governance power
(admin API, admin UI, CLI): a change that cannot widen access applies at once; a guarded one
becomes a pending proposal, or, with no second admin to ask, applies alone and is flagged
`single_person` in the trail. Granting a governance role never applies alone: it waits for a
second admin, or the host operator makes it through the CLI (`break_glass` in the trail).
Approval checks the target has not moved since the proposal and applies it in the same transaction
as the proposal's own audit event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, Forbidden, GovernError, InvalidInput, NotFound
from govern.governance.proposal_kinds import Change, Guard, Kind, State, kind_of
from govern.identity.people import account_usable, person_key, same_person
from govern.models import Proposal, User
from govern.models.base import get_or_not_found, utcnow
from govern.models.proposal import (
    APPLIED,
    BREAK_GLASS,
    PENDING,
    REJECTED,
    SINGLE_PERSON,
    STATES,
    TWO_PERSON,
    WITHDRAWN,
)

MAX_REASON = 2000


@dataclass(frozen=True)
class ProposalInfo:
    id: int
    kind: str
    target: str
    diff: list[dict[str, Any]]
    state: str
    route: str | None
    proposer: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat(),
                "decided_at": self.decided_at.isoformat() if self.decided_at else None}


@dataclass(frozen=True)
class Outcome:
    """What became of a change: applied (with the applied change's own result, e.g. a new key shown
    only now) or waiting as a proposal. A change that needed no second person has no proposal."""

    applied: bool
    proposal: ProposalInfo | None
    result: dict[str, Any] | None


def _info(row: Proposal) -> ProposalInfo:
    return ProposalInfo(row.id, row.kind, row.target, row.diff, row.state, row.route, row.proposer,
                        row.created_at, row.decided_by, row.decided_at, row.reason)


def _plain(value: State) -> State:
    """As the database gives it back, so a stored base compares equal to a fresh one."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """What changes, field by field (dotted paths); lists also say what was added and removed."""
    mapping_or_none = (dict, type(None))
    if (isinstance(before, dict) or isinstance(after, dict)) and isinstance(before, mapping_or_none) \
            and isinstance(after, mapping_or_none):
        old, new = before or {}, after or {}
        entries: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            entries += diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return entries
    if before == after:
        return []
    entry: dict[str, Any] = {"path": path, "before": before, "after": after}
    if isinstance(before, list) and isinstance(after, list):
        entry["added"] = [item for item in after if item not in before]
        entry["removed"] = [item for item in before if item not in after]
    return [entry]


def _admins(session: Session) -> list[str]:
    """The actors of every usable account (it and its person active) holding the admin role."""
    users = session.execute(select(User).where(User.active.is_(True))).scalars()
    return [f"user:{user.username}" for user in users
            if "admin" in user.role_set and account_usable(session, user)]


def _check_admin(session: Session, actor: str) -> None:
    if actor not in _admins(session):
        raise Forbidden("only an active admin decides on proposals", code="role_required")


def _admin_people(session: Session) -> set[str]:
    """Every person holding the admin role on any account, usable or not: disabling a second admin
    (which applies at once, to offboard quickly) must not turn the first into a single admin who
    may then act alone."""
    users = session.execute(select(User)).scalars()
    return {person_key(session, f"user:{user.username}") for user in users if "admin" in user.role_set}


def single_admin(session: Session) -> bool:
    """True when no second person holds the admin role: guarded changes then apply alone, flagged."""
    return len(_admin_people(session)) <= 1


def _second_admin_exists(session: Session, actor: str) -> bool:
    return bool(_admin_people(session) - {person_key(session, actor)})


def _apply(session: Session, kind: Kind, row: Proposal, *, actor: str, action: str,
           event: dict[str, Any]) -> dict[str, Any]:
    """Record the proposal's event, then let the kind's service apply and commit the change: one
    transaction, so the change never exists without the proposal that let it through."""
    try:
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action=action, target=f"proposal:{row.id}",
                     before={"state": PENDING} if action == "proposal.approve" else None,
                     after={"kind": row.kind, "target": row.target, "state": APPLIED,
                            "diff": row.diff, "proposer": row.proposer, **event})
        return kind.apply(session, row.payload, actor)
    except GovernError:
        session.rollback()
        raise


@dataclass(frozen=True)
class Assessed:
    """A change checked against the present: its target now and after, and how far it reaches."""

    kind: Kind
    base: State
    after: State
    guard: Guard


def assess(session: Session, change: Change) -> Assessed:
    """Validate `change` and classify it; raises the kind's error if it cannot apply."""
    kind = kind_of(change.kind)
    base = _plain(kind.state(session, change.payload))
    after = _plain(kind.after(session, change.payload, base))
    return Assessed(kind, base, after, kind.guard(session, base, after))


def is_guarded(session: Session, change: Change) -> bool:
    """Whether `change` can widen access or grant governance power (so needs a second admin)."""
    return assess(session, change).guard is not Guard.NONE


def submit(session: Session, change: Change, *, actor: str, host: bool = False) -> Outcome:
    """Apply `change`, or keep it as a proposal for a second admin (see the module docstring).

    `host` is the operator at the server's command line (the break-glass path), never a web caller."""
    assessed = assess(session, change)
    kind, base, after, guard = assessed.kind, assessed.base, assessed.after, assessed.guard
    if guard is Guard.NONE:
        return Outcome(True, None, kind.apply(session, change.payload, actor))
    if host:
        route: str | None = BREAK_GLASS
    elif _second_admin_exists(session, actor):
        route = None
    elif guard is Guard.GOVERNANCE:
        raise Forbidden("granting a governance role (reviewer, approver, board, admin) needs a "
                        "second admin to approve it, and there is none; the host operator can "
                        "make this change with the govern command on the server",
                        code="second_person_required")
    else:
        route = SINGLE_PERSON
    row = Proposal(kind=change.kind, target=kind.target(change.payload), payload=change.payload,
                   base=base, diff=diff(base, after), proposer=actor, created_at=utcnow(),
                   state=PENDING, reason="")
    if route is None:
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action="proposal.create", target=f"proposal:{row.id}",
                     after={"kind": row.kind, "target": row.target, "state": PENDING,
                            "diff": row.diff})
        session.commit()
        return Outcome(False, _info(row), None)
    row.state, row.route, row.decided_by, row.decided_at = APPLIED, route, actor, row.created_at
    result = _apply(session, kind, row, actor=actor, action="proposal.apply",
                    event={"route": route, "single_person": route == SINGLE_PERSON,
                           "break_glass": route == BREAK_GLASS})
    return Outcome(True, _info(row), result)


def _pending(session: Session, proposal_id: int) -> Proposal:
    row = session.execute(select(Proposal).where(Proposal.id == proposal_id)
                          .with_for_update()).scalar()
    if row is None:
        raise NotFound(f"no proposal {proposal_id}", code="proposal_not_found")
    if row.state != PENDING:
        raise Conflict(f"proposal {proposal_id} is already {row.state}", code="proposal_decided")
    return row


def _reason(reason: str) -> str:
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"a reason is at most {MAX_REASON} characters", code="invalid_reason")
    return reason.strip()


def approve(session: Session, proposal_id: int, *, actor: str, reason: str = "") -> Outcome:
    """A second admin applies the proposal, if what it changes is still as it was proposed."""
    row = _pending(session, proposal_id)
    _check_admin(session, actor)
    if same_person(session, row.proposer, actor):
        raise Forbidden("you proposed this change; a second admin must approve it",
                        code="own_proposal")
    kind = kind_of(row.kind)
    now = _plain(kind.state(session, row.payload))
    if now != row.base:
        raise Conflict(f"{row.target} has changed since proposal {row.id} was made; reject it and "
                       "propose the change again", code="stale_proposal")
    kind.after(session, row.payload, now)  # still valid against today's policy and tiers
    row.state, row.route, row.decided_by, row.decided_at = APPLIED, TWO_PERSON, actor, utcnow()
    row.reason = _reason(reason)
    result = _apply(session, kind, row, actor=actor, action="proposal.approve",
                    event={"route": TWO_PERSON, "approved_by": actor, "reason": row.reason})
    return Outcome(True, _info(row), result)


def _close(session: Session, row: Proposal, *, actor: str, state: str, reason: str) -> ProposalInfo:
    row.state, row.decided_by, row.decided_at, row.reason = state, actor, utcnow(), _reason(reason)
    action = "proposal.reject" if state == REJECTED else "proposal.withdraw"
    record_event(session, actor=actor, action=action, target=f"proposal:{row.id}",
                 before={"state": PENDING},
                 after={"kind": row.kind, "target": row.target, "state": state,
                        "proposer": row.proposer, "reason": row.reason})
    session.commit()
    return _info(row)


def reject(session: Session, proposal_id: int, *, actor: str, reason: str = "") -> ProposalInfo:
    row = _pending(session, proposal_id)
    _check_admin(session, actor)
    return _close(session, row, actor=actor, state=REJECTED, reason=reason)


def withdraw(session: Session, proposal_id: int, *, actor: str, reason: str = "") -> ProposalInfo:
    """Only the proposer takes their own proposal back."""
    row = _pending(session, proposal_id)
    if not same_person(session, row.proposer, actor):
        raise Forbidden("only the proposer can withdraw a proposal; reject it instead",
                        code="not_proposer")
    return _close(session, row, actor=actor, state=WITHDRAWN, reason=reason)


def list_proposals(session: Session, state: str | None = None, *, decided: bool = False,
                   before: int | None = None, limit: int | None = None) -> list[ProposalInfo]:
    """Proposals newest first: in `state`, or every decided one (`decided`); older than id
    `before` and at most `limit` of them, for paging."""
    query = select(Proposal).order_by(Proposal.id.desc()).limit(limit)
    if state is not None:
        if state not in STATES:
            raise InvalidInput(f"state is one of {', '.join(STATES)}", code="invalid_state")
        query = query.where(Proposal.state == state)
    if decided:
        query = query.where(Proposal.state != PENDING)
    if before is not None:
        query = query.where(Proposal.id < before)
    return [_info(row) for row in session.execute(query).scalars()]


def get_proposal(session: Session, proposal_id: int) -> ProposalInfo:
    return _info(get_or_not_found(session, Proposal, proposal_id, f"no proposal {proposal_id}",
                                  "proposal_not_found"))
