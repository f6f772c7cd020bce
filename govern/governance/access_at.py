"""Who could use a governed model, and who approved that, at a past moment.

Everything is read from records that keep their times: the policy version created last before the
moment, the model's version in force then (the newest registered by then), its newest sign-off then
(and whether it was reversed, expired, held or overdue for re-review by then), its ratings then
(the gate), and, from the audit trail, whether the model was suspended then and which
organisation held which tier then.
Organisations have no history table: their `org.create`, `org.update` and `org.delete` events hold
the whole organisation after (and before) each change, so replaying them in order up to the moment
gives each organisation's tier at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.governance.changes import model_target
from govern.governance.gates import Levels, compute_gate
from govern.governance.presets import get_preset
from govern.governance.schedule import due_at
from govern.identity.people import person_key
from govern.models import (
    AuditEvent,
    GovernanceHold,
    GovernedModel,
    PolicyVersion,
    RiskRating,
    SafetyReview,
    SignOff,
)
from govern.models.safety_review import OPEN
from govern.policy.document import parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.types import ModelAccess, Verdict

ORG_ACTIONS = ("org.create", "org.update", "org.delete")
SUSPENSION_ACTIONS = ("model.suspend", "model.lift_suspension")


@dataclass(frozen=True)
class Approval:
    """The sign-off in force at the moment, and the reviews it rested on (reviewer, tier, when)."""

    sign_off_id: int
    approver: str
    tier: str
    conditions: str
    signed_at: datetime
    expires_at: datetime | None
    reviews: tuple[tuple[str, str, datetime], ...]


@dataclass(frozen=True)
class AccessAt:
    """The answer for every tier × capability of one model at `when`, and why.

    `closed_because` says, when no sign-off was in force, what closed the model then (never signed
    off, reversed, expired, held, or not deployable); `orgs` lists the organisations of each tier
    then (not suspended ones only in `active_orgs`)."""

    model: str
    version: str | None  # None: the model was not under governance yet, the policy alone decided
    when: datetime
    policy_version: int
    policy_created_at: datetime
    tiers: tuple[str, ...]
    capabilities: tuple[str, ...]
    verdicts: dict[tuple[str, str], Verdict]
    approval: Approval | None
    closed_because: str | None
    suspended: bool
    orgs: dict[str, tuple[str, ...]]
    suspended_orgs: frozenset[str]

    def allowed(self, tier: str, capability: str) -> bool:
        return self.verdicts[(tier, capability)].allow

    def who_could(self, capability: str) -> tuple[str, ...]:
        """The organisations (not suspended then) whose tier was allowed `capability` then."""
        return tuple(name for tier in self.tiers if self.allowed(tier, capability)
                     for name in self.orgs.get(tier, ()) if name not in self.suspended_orgs)


def access_at(session: Session, model: GovernedModel, when: datetime) -> AccessAt:
    """Reconstruct access to `model`'s name at `when` (an aware UTC time), under the version of it
    registered last by then. Raises NotFound when no policy had been stored yet at that moment."""
    policy = session.execute(select(PolicyVersion).where(PolicyVersion.created_at <= when)
                             .order_by(PolicyVersion.version.desc()).limit(1)).scalar()
    if policy is None:
        raise NotFound(f"no policy was in force at {when:%Y-%m-%d %H:%M:%S} UTC", code="no_policy_then")
    document = parse_document(policy.document)
    governed: dict[str, ModelAccess] = {}
    approval: Approval | None = None
    closed_because: str | None = "not under governance yet: the policy alone decided"
    suspended = False
    version = session.execute(select(GovernedModel).where(GovernedModel.name == model.name,
                                                          GovernedModel.created_at <= when)
                              .order_by(GovernedModel.id.desc()).limit(1)).scalar()
    if version is not None and version.retired_at is not None and version.retired_at <= when:
        closed_because = f"{version.version} retired by {version.retired_by}: {version.retirement_reason}"
        governed[model.name] = ModelAccess(open_from=None, suspended=False, retired=True)
    elif version is not None:
        approval, closed_because = _approval_at(session, version, when)
        suspended = _suspended_at(session, version, when)
        governed[model.name] = ModelAccess(open_from=approval.tier if approval else None, suspended=suspended,
                                           sign_off_id=approval.sign_off_id if approval else None)
    snapshot = PolicySnapshot(policy.version, document, policy.model_conf, governed)
    verdicts = {(tier, capability): snapshot.decide_tier(tier, model.name, capability)
                for tier in document.tiers for capability in document.capabilities}
    orgs, suspended_orgs = _orgs_at(session, when)
    return AccessAt(model=model.name, version=version.version if version else None, when=when,
                    policy_version=policy.version,
                    policy_created_at=policy.created_at, tiers=document.tiers,
                    capabilities=document.capabilities, verdicts=verdicts, approval=approval,
                    closed_because=closed_because, suspended=suspended,
                    orgs={tier: tuple(sorted(orgs.get(tier, ()))) for tier in document.tiers},
                    suspended_orgs=suspended_orgs)


def _approval_at(session: Session, model: GovernedModel,
                 when: datetime) -> tuple[Approval | None, str | None]:
    """As sign_off_in_force and the gate decide today, but with only what existed at `when`."""
    signed = session.execute(select(SignOff).where(SignOff.model_id == model.id, SignOff.created_at <= when)
                             .order_by(SignOff.id.desc()).limit(1)).scalar()
    if signed is None:
        return None, "never signed off by then"
    if signed.reversed_at is not None and signed.reversed_at <= when:
        return None, (f"sign-off {signed.id} was reversed by {signed.reversed_by} at "
                      f"{signed.reversed_at:%Y-%m-%d %H:%M:%S} UTC")
    if signed.expires_at is not None and signed.expires_at <= when:
        return None, f"sign-off {signed.id} expired at {signed.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    hold = session.execute(select(GovernanceHold).where(GovernanceHold.model_id == model.id,
                                                        GovernanceHold.started_at <= when)
                           .order_by(GovernanceHold.id.desc()).limit(1)).scalar()
    if hold is not None and hold.started_at > signed.created_at:
        return None, f"held since {hold.started_at:%Y-%m-%d %H:%M:%S} UTC ({hold.cause.replace('_', ' ')})"
    due = due_at(session, model, signed, as_of=when) if get_preset(model.preset).close_when_overdue else None
    if due is not None and due <= when:
        return None, f"sign-off {signed.id} closed: re-review overdue from {due:%Y-%m-%d %H:%M:%S} UTC"
    ratings = session.execute(select(RiskRating).where(RiskRating.model_id == model.id,
                                                       RiskRating.created_at <= when)
                              .order_by(RiskRating.id.desc())).scalars()
    card: dict[str, Levels] = {}
    for rating in ratings:
        card.setdefault(rating.category, Levels(rating.pre_level, rating.post_level))
    gate = compute_gate(get_preset(model.preset), card)
    if not gate.deployable:
        return None, "not deployable then: " + "; ".join(gate.reasons)
    return Approval(sign_off_id=signed.id, approver=signed.approver, tier=signed.tier,
                    conditions=signed.conditions, signed_at=signed.created_at,
                    expires_at=signed.expires_at, reviews=_reviews_behind(session, signed)), None


def _reviews_behind(session: Session, signed: SignOff) -> tuple[tuple[str, str, datetime], ...]:
    """Each reviewer's newest recommendation to open the signed revision, made before the sign-off."""
    reviews = session.execute(select(SafetyReview).where(SafetyReview.model_id == signed.model_id,
                                                         SafetyReview.revision == signed.revision,
                                                         SafetyReview.created_at <= signed.created_at)
                              .order_by(SafetyReview.id.desc())).scalars()
    newest: dict[str, SafetyReview] = {}
    for review in reviews:
        newest.setdefault(person_key(session, review.reviewer), review)
    return tuple((r.reviewer, r.tier or "", r.created_at) for r in sorted(newest.values(), key=lambda r: r.id)
                 if r.recommendation == OPEN)


def _suspended_at(session: Session, model: GovernedModel, when: datetime) -> bool:
    last = session.execute(select(AuditEvent.action).where(AuditEvent.target == model_target(model.name),
                                                           AuditEvent.action.in_(SUSPENSION_ACTIONS),
                                                           AuditEvent.created_at <= when)
                           .order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return last == "model.suspend"


def _orgs_at(session: Session, when: datetime) -> tuple[dict[str, list[str]], frozenset[str]]:
    """(tier -> organisation names, names of the suspended ones) as the trail had them at `when`."""
    state: dict[str, dict[str, object]] = {}
    events = session.execute(select(AuditEvent).where(AuditEvent.action.in_(ORG_ACTIONS),
                                                      AuditEvent.created_at <= when)
                             .order_by(AuditEvent.id)).scalars()
    for event in events:
        if event.action == "org.delete" or event.after is None:
            state.pop(event.target, None)
        else:
            state[event.target] = dict(event.after)
    by_tier: dict[str, list[str]] = {}
    for org in state.values():
        by_tier.setdefault(str(org["tier"]), []).append(str(org["name"]))
    return by_tier, frozenset(str(org["name"]) for org in state.values() if org.get("suspended"))
