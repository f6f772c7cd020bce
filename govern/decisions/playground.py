"""The decision playground: "would this caller be allowed?", answered with everything behind the
answer, against the live policy or a draft, without recording anything.

A question names one caller (an organisation, a key by its prefix, an identity as an issuer and
the claims its token would carry, or a bare tier), a model and a capability. The answer is the one
the decision endpoints would give now: the same policy snapshot logic with the governance in force,
a key's or identity's rate-limit counters read (never counted), and the refusals a revoked,
expired or wrong kind of key, or a disabled issuer, would meet. Nothing is written: no decision
row, no counter, no audit event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from govern.decisions.ratelimit import RateLimiter, Window
from govern.errors import InvalidInput, NotFound
from govern.governance.access import governance_access
from govern.governance.grants import Holder, load_grants
from govern.governance.holds import hold_status
from govern.governance.registry import find_model
from govern.governance.scorecards import model_gate
from govern.governance.signoffs import sign_off_in_force
from govern.identity.issuers import get_issuer
from govern.identity.keys import find_key, key_status, list_keys
from govern.identity.organisations import find_org
from govern.models.api_key import CLIENT
from govern.models.base import utcnow
from govern.policy.document import PolicyDocument, RateLimit
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import current_policy, current_snapshot
from govern.types import REASON_TEXT, Caller, Reason, Verdict

CALLER_KINDS = ("organisation", "key", "issuer", "tier")
# An organisation's page of counters stops here; its keys are counted one by one.
MAX_KEY_COUNTERS = 20
INVALID = "invalid_question"
REFUSED_KEY = {"revoked": Reason.KEY_REVOKED, "expired": Reason.KEY_EXPIRED}


@dataclass(frozen=True)
class Question:
    """Exactly one of organisation, key (prefix), issuer (name, with `claims`) or tier."""

    model: str
    capability: str
    organisation: str | None = None
    key: str | None = None
    issuer: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    tier: str | None = None

    def kind(self) -> str:
        """Which caller the question names; raises InvalidInput (invalid_question) unless one."""
        given = [kind for kind in CALLER_KINDS if getattr(self, kind)]
        if len(given) != 1:
            raise InvalidInput("name exactly one caller: an organisation, a key, an issuer with "
                               "claims, or a tier", code=INVALID)
        if not self.model or not self.capability:
            raise InvalidInput("name a model and a capability", code=INVALID)
        return given[0]


@dataclass(frozen=True)
class CallerFacts:
    """Who the policy sees: the effective tier and how it came about."""

    kind: str
    label: str
    tier: str
    org_tier: str | None = None
    tier_cap: str | None = None
    org_suspended: bool = False
    key_suspended: bool = False
    key_status: str | None = None
    matched_rule: str | None = None  # identities: the claim rule that gave the tier
    holder: Holder | None = None  # whose time-bound grants apply (govern.governance.grants)


@dataclass(frozen=True)
class SignOffFacts:
    id: int
    tier: str
    approver: str
    approved_at: datetime
    expires_at: datetime | None
    conditions: str


@dataclass(frozen=True)
class GovernanceFacts:
    """The governance of a model under governance, as it stands now."""

    model: str
    suspended: bool
    deployable: bool
    open_from: str | None  # the lowest tier it is open to (None: the top tier only)
    sign_off: SignOffFacts | None  # the sign-off in force
    hold: str | None  # what an open hold waits for, in words


@dataclass(frozen=True)
class Counter:
    """The rate-limit counters of one key, identity or organisation, read without counting."""

    name: str
    windows: tuple[Window, ...]

    @property
    def exhausted(self) -> bool:
        return any(window.remaining < 1 for window in self.windows)


@dataclass(frozen=True)
class Explanation:
    """The answer and everything behind it."""

    question: Question
    caller: CallerFacts
    verdict: Verdict
    draft: bool
    governance: GovernanceFacts | None
    counters: tuple[Counter, ...]
    rate_limit: RateLimit | None  # of the caller's tier; None: none
    asked_at: float  # epoch seconds: the counters' windows restart relative to it

    @property
    def allow(self) -> bool:
        return self.verdict.allow

    @property
    def reason_text(self) -> str:
        return REASON_TEXT[self.verdict.reason]

    def as_dict(self) -> dict[str, Any]:
        verdict, caller = self.verdict, self.caller
        return {
            "allow": verdict.allow, "reason": verdict.reason.value, "reason_text": self.reason_text,
            "rule": verdict.rule, "tier": verdict.tier, "policy_version": verdict.policy_version,
            "draft": self.draft, "model": self.question.model, "capability": self.question.capability,
            "caller": {"kind": caller.kind, "label": caller.label, "tier": caller.tier,
                       "org_tier": caller.org_tier, "tier_cap": caller.tier_cap,
                       "org_suspended": caller.org_suspended, "key_suspended": caller.key_suspended,
                       "key_status": caller.key_status, "matched_rule": caller.matched_rule},
            "governance": _governance_dict(self.governance),
            "rate_limit": None if self.rate_limit is None else self.rate_limit.as_dict(),
            "counters": [{"name": c.name, "exhausted": c.exhausted, "windows": [
                {"period": w.period, "limit": w.limit, "remaining": w.remaining,
                 "resets_at": datetime.fromtimestamp(w.resets_at, UTC).isoformat()}
                for w in c.windows]} for c in self.counters],
        }


def explain(session: Session, question: Question, document: PolicyDocument | None = None, *,
            limiter: RateLimiter | None = None) -> Explanation:
    """The answer the decision endpoints would give `question` now, under the live policy or
    `document` (a draft, with the live Casbin model), and the facts behind it. With `limiter` the
    caller's rate-limit counters are read (never counted) and an exhausted one answers
    rate_limited, as a real check would. Records nothing.

    Raises InvalidInput (invalid_question) for a question that names no caller or several,
    NotFound for an unknown organisation, key or issuer, PolicyRejected for a draft that does not
    build, RateLimitUnavailable when the counters cannot be read."""
    kind = question.kind()
    governed, _next_expiry = governance_access(session, utcnow())
    if document is None:
        snapshot = current_snapshot(session, governed)
    else:
        snapshot = PolicySnapshot(0, document, current_policy(session).model_conf, governed)
    caller, refusal, counter_names = _caller(session, snapshot, question, kind)
    limit = snapshot.document.rate_limits.get(caller.tier)
    counters = tuple(Counter(name, windows) for name, scope, holder in counter_names
                     if (windows := limiter.peek(limit, {scope: holder}))) \
        if limiter is not None and limit is not None else ()
    if refusal is not None:
        verdict = Verdict(False, refusal, None, caller.tier, snapshot.version,
                          snapshot.sign_off_of(question.model))
    elif kind in ("key", "issuer") and any(counter.exhausted for counter in counters):
        verdict = Verdict(False, Reason.RATE_LIMITED, None, caller.tier, snapshot.version,
                          snapshot.sign_off_of(question.model))
    else:
        # Raised by the organisation's time-bound grants in force, as on the decision endpoints.
        tier = load_grants(session, utcnow()).tier_for(
            snapshot, caller.tier, caller.tier_cap, caller.holder, question.model, question.capability,
            time.time()) if caller.holder is not None else caller.tier
        verdict = snapshot.decide(Caller(0, "", 0, "", tier, caller.org_suspended,
                                         caller.key_suspended), question.model, question.capability)
    return Explanation(question, caller, verdict, document is not None,
                       _governance(session, snapshot, question.model), counters,
                       limit, time.time())


def _caller(session: Session, snapshot: PolicySnapshot, question: Question,
            kind: str) -> tuple[CallerFacts, Reason | None, list[tuple[str, str, str]]]:
    """(who the policy sees, the refusal met before the policy is asked, the counters to read:
    (name, rate-limit scope, holder) each)."""
    if kind == "tier":
        tier = str(question.tier)
        return CallerFacts("tier", f"tier {tier}", tier), None, []
    if kind == "organisation":
        org = find_org(session, str(question.organisation))
        keys = [(key.prefix, "key", key.prefix) for key in list_keys(session, org.id)
                if key.status == "active"]
        return (CallerFacts("organisation", org.name, org.tier, org_tier=org.tier,
                            org_suspended=org.suspended, holder=org.id), None,
                [(f"organisation {org.name}", "organisation", f"org:{org.id}"), *keys[:MAX_KEY_COUNTERS]])
    if kind == "key":
        key = find_key(session, str(question.key))
        if key.kind != CLIENT or key.org_id is None:
            return (CallerFacts("key", key.prefix, "", key_status=key_status(key, utcnow())),
                    Reason.KEY_WRONG_KIND, [])
        org = find_org(session, key.org_id)
        status = key_status(key, utcnow())
        facts = CallerFacts("key", f"{key.prefix} of {org.name}",
                            snapshot.effective_tier(org.tier, key.tier_cap), org_tier=org.tier,
                            tier_cap=key.tier_cap, org_suspended=org.suspended,
                            key_suspended=key.suspended, key_status=status, holder=org.id)
        return facts, REFUSED_KEY.get(status), [(key.prefix, "key", key.prefix),
                                                (f"organisation {org.name}", "organisation", f"org:{org.id}")]
    config = get_issuer(session, str(question.issuer))
    claims = question.claims
    rule = next((r for r in config.rules if r.matches(claims)), None)
    matched = ", ".join(f"{name}: {value}" for name, value in rule.as_dict().items()) if rule \
        else f"no rule matches: the default tier {config.default_tier}"
    subject = claims.get("sub")
    facts = CallerFacts("issuer", f"{config.name}" + (f" subject {subject}" if subject else ""),
                        config.tier_for(claims), matched_rule=matched,
                        holder=(config.issuer, subject) if isinstance(subject, str) and subject else None)
    identity = f"{config.issuer} {subject}"
    counters = [(identity, "key", identity)] if isinstance(subject, str) and subject else []
    return facts, None if config.enabled else Reason.TOKEN_ISSUER, counters


def _governance(session: Session, snapshot: PolicySnapshot, name: str) -> GovernanceFacts | None:
    access = snapshot.governed.get(name)
    if access is None:
        return None
    try:
        model = find_model(session, name)
    except NotFound:
        return None
    signed = sign_off_in_force(session, model, utcnow())
    hold = hold_status(session, model, snapshot.document.tiers)
    return GovernanceFacts(
        name, access.suspended, model_gate(session, model).deployable, access.open_from,
        None if signed is None else SignOffFacts(signed.id, signed.tier, signed.approver,
                                                 signed.created_at, signed.expires_at,
                                                 signed.conditions),
        None if hold is None else hold.summary())


def _governance_dict(facts: GovernanceFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    signed = facts.sign_off
    return {"model": facts.model, "suspended": facts.suspended, "deployable": facts.deployable,
            "open_from": facts.open_from, "hold": facts.hold,
            "sign_off": None if signed is None else {
                "id": signed.id, "tier": signed.tier, "approver": signed.approver,
                "approved_at": signed.approved_at.isoformat(),
                "expires_at": signed.expires_at.isoformat() if signed.expires_at else None,
                "conditions": signed.conditions}}
