"""What a draft policy would have changed: the decisions of the last days, decided again under it.

Which rows can flip: only answers the policy gave. A row whose reason is one of POLICY_REASONS came
out of the snapshot's tier decision (granted, too low a tier, not granted, a deny rule, a block, an
unknown tier/model/capability, or governance narrowing the grant); rate-limited, unauthenticated,
suspended-key or suspended-organisation rows never reached the policy, and would be refused the same
way under any draft, so they are not replayed.

What a flip is: the answer under the live policy and the answer under the draft differ, both with
today's governance state (sign-offs, suspensions), exactly as `current_snapshot` with
`governance_access` builds it. Comparing two policies under the same governance keeps sign-offs
that expired since a row was logged from showing up as the draft's doing.

Scale: the log is read as one grouped query — one row per distinct (tier, model, capability,
organisation) with its count and two example ids — fetched in batches, and each distinct
(tier, model, capability) question is decided once per snapshot (the snapshot memoizes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.decisions.query import id_at
from govern.errors import InvalidInput
from govern.governance.access import governance_access
from govern.models import Decision
from govern.models.base import utcnow
from govern.policy.allowed_models import check_model_allowed
from govern.policy.document import PolicyDocument
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import current_policy, current_snapshot
from govern.types import Reason

POLICY_REASONS = frozenset({
    Reason.GRANTED_BY_TIER, Reason.TIER_TOO_LOW, Reason.NOT_GRANTED, Reason.DENIED_BY_RULE,
    Reason.MODEL_BLOCKED, Reason.UNKNOWN_MODEL, Reason.UNKNOWN_CAPABILITY, Reason.UNKNOWN_TIER,
    Reason.NOT_SIGNED_OFF, Reason.SIGNOFF_BELOW_TIER, Reason.MODEL_SUSPENDED,
})
DEFAULT_DAYS = 7
MAX_DAYS = 366
BATCH = 1_000
EXAMPLES = 3
NO_ORG = "(no organisation)"


@dataclass
class Bucket:
    """Answers that flip one way for one organisation, model or capability."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, count: int, examples: list[str]) -> None:
        self.count += count
        for example in examples:
            if len(self.examples) < EXAMPLES and example not in self.examples:
                self.examples.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": list(self.examples)}


@dataclass
class Flips:
    """Answers that flip one way (allow→deny or deny→allow), in total and per dimension."""

    total: int = 0
    by_org: dict[str, Bucket] = field(default_factory=dict)
    by_model: dict[str, Bucket] = field(default_factory=dict)
    by_capability: dict[str, Bucket] = field(default_factory=dict)

    def add(self, org: str, model: str, capability: str, count: int, examples: list[str]) -> None:
        self.total += count
        for buckets, key in ((self.by_org, org), (self.by_model, model), (self.by_capability, capability)):
            buckets.setdefault(key, Bucket()).add(count, examples)

    def as_dict(self) -> dict[str, Any]:
        def ordered(buckets: dict[str, Bucket]) -> list[dict[str, Any]]:
            rows = sorted(buckets.items(), key=lambda item: (-item[1].count, item[0]))
            return [{"name": name, **bucket.as_dict()} for name, bucket in rows]
        return {"total": self.total, "by_org": ordered(self.by_org), "by_model": ordered(self.by_model),
                "by_capability": ordered(self.by_capability)}


@dataclass
class Impact:
    days: int
    since: datetime
    replayed: int = 0  # logged policy answers decided again
    questions: int = 0  # distinct (tier, model, capability) among them
    allow_to_deny: Flips = field(default_factory=Flips)
    deny_to_allow: Flips = field(default_factory=Flips)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "since": self.since.isoformat(), "replayed": self.replayed,
                "questions": self.questions, "allow_to_deny": self.allow_to_deny.as_dict(),
                "deny_to_allow": self.deny_to_allow.as_dict()}


def policy_impact(session: Session, draft: PolicyDocument, *, days: int = DEFAULT_DAYS,
                  model_conf: str | None = None, now: datetime | None = None) -> Impact:
    """Replay the policy answers logged in the last `days` days under `draft` (with the live Casbin
    model unless `model_conf` is given) and count the answers that would flip. Reads only; raises
    NotFound when no policy is stored, PolicyRejected (model_not_allowed) for a Casbin model that
    is not allowed, InvalidInput (invalid_days) for `days` outside
    1..MAX_DAYS and PolicyRejected when the draft cannot be built."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}", code="invalid_days")
    now = now or utcnow()
    since = now - timedelta(days=days)
    governed, _ = governance_access(session, now)
    live = current_snapshot(session, governed)
    conf = model_conf if model_conf is not None else current_policy(session).model_conf
    check_model_allowed(conf)
    proposed = PolicySnapshot(0, draft, conf, governed)
    impact = Impact(days, since)
    asked: set[tuple[str, str, str]] = set()
    grouped = (
        select(Decision.tier, Decision.model, Decision.capability, Decision.org_name, func.count(),
               func.min(Decision.decision_id), func.max(Decision.decision_id))
        .where(Decision.decision_id >= id_at(since), Decision.decision_id < id_at(now),
               Decision.reason.in_([reason.value for reason in POLICY_REASONS]),
               Decision.tier.is_not(None), Decision.model.is_not(None), Decision.capability.is_not(None))
        .group_by(Decision.tier, Decision.model, Decision.capability, Decision.org_name)
        .execution_options(yield_per=BATCH))
    for row in session.execute(grouped):
        # The query excludes NULLs in these three columns.
        tier, model, capability = str(row[0]), str(row[1]), str(row[2])
        org_name, count, first, last = row[3], row[4], row[5], row[6]
        impact.replayed += count
        asked.add((tier, model, capability))
        before = live.decide_tier(tier, model, capability).allow
        after = proposed.decide_tier(tier, model, capability).allow
        if before == after:
            continue
        flips = impact.allow_to_deny if before else impact.deny_to_allow
        flips.add(org_name or NO_ORG, model, capability, count, [first, last] if first != last else [first])
    impact.questions = len(asked)
    return impact
