"""An immutable, in-memory policy snapshot: the policy version in force with the governance facts.

A snapshot is never changed after it is built; a new version builds a new snapshot and the holder
swaps the reference. Answers are memoized per snapshot, so a repeated question costs a dict lookup.
This module is the only place that produces an allow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from govern.errors import PolicyRejected
from govern.policy.casbin_answers import answers_for
from govern.policy.document import ANY, PolicyDocument, blocked_rule
from govern.types import Caller, ModelAccess, Reason, Verdict

# Up to this many distinct questions, warm() answers them all ahead of use (about a second of
# Casbin work at most); larger policies fill the memo on first use.
EAGER_QUESTIONS = 2_000
# A model name no policy can hold (names start with a letter or digit): asked about to evaluate the
# matcher even when the policy lists no model yet.
PROBE_MODEL = "?probe"


class PolicySnapshot:
    """The policy in force at one version, with the governance facts of its build. Thread-safe:
    Casbin is only called under a lock (govern.policy.casbin_answers)."""

    def __init__(self, version: int, document: PolicyDocument, model_conf: str,
                 governed: Mapping[str, ModelAccess] | None = None, valid_until: float = math.inf) -> None:
        """`governed`: governance facts of the models under governance (others follow the policy
        alone); `valid_until`: epoch seconds when a sign-off expires and a new snapshot is due."""
        self.version = version
        self.governed = dict(governed or {})
        # Every verdict about a model carries the sign-off in force for it, memoized with the rest.
        self._sign_offs = {model: access.sign_off_id for model, access in self.governed.items()
                           if access.sign_off_id is not None}
        self.valid_until = valid_until
        self.document = document
        self.model_conf = model_conf
        self._rank = {tier: rank for rank, tier in enumerate(document.tiers)}
        self._capabilities = frozenset(document.capabilities)
        self._blocked = {blocked_rule(model)[1:] for model in document.blocked_models}
        # Casbin's answers, shared with every other snapshot of the same policy in this process.
        self._casbin = answers_for(model_conf, tuple(document.casbin_rules()), len(document.tiers))
        self._memo: dict[tuple[str, str, str], Verdict] = {}
        self._lowest: dict[tuple[str, str], str | None] = {}

    def verify(self, also: Iterable[str] = ()) -> None:
        """Put every tier × model × capability question to Casbin, for the policy's models and
        the models `also` names (those under governance), plus a model no policy names, so the
        matcher is evaluated even before any model is listed. Raises PolicyRejected
        (policy_evaluation_failed) naming the first question that fails."""
        models = dict.fromkeys([PROBE_MODEL, *self.document.models, *also])
        self._probe(list(models))

    def warm(self) -> None:
        """Answer every question ahead of use when there are few enough (and probe the matcher in
        any case); call it off the request path. Raises PolicyRejected (policy_evaluation_failed)
        when a question cannot be evaluated: such a snapshot must not be used."""
        self._probe([PROBE_MODEL])
        document = self.document
        if len(document.tiers) * len(document.models) * len(document.capabilities) > EAGER_QUESTIONS:
            return
        for tier in document.tiers:
            for model in document.models:
                for capability in document.capabilities:
                    self._guarded(self.decide_tier, tier, model, capability)

    def _probe(self, models: list[str]) -> None:
        for tier in self.document.tiers:
            for model in models:
                for capability in self.document.capabilities:
                    self._guarded(self._casbin.ask, tier, model, capability)

    @staticmethod
    def _guarded(ask: Callable[[str, str, str], object], tier: str, model: str, capability: str) -> None:
        try:
            ask(tier, model, capability)
        except Exception as exc:  # whatever the matcher raises: simpleeval, Casbin, Python errors
            raise PolicyRejected(
                f"the Casbin model fails when evaluated (tier {tier}, model {model}, capability "
                f"{capability}): {type(exc).__name__}: {exc}", code="policy_evaluation_failed") from None

    def sign_off_of(self, model: str) -> int | None:
        """The id of the sign-off that opens `model` in this snapshot (None: none in force)."""
        return self._sign_offs.get(model)

    def effective_tier(self, org_tier: str, cap: str | None) -> str:
        """The lower of the organisation's tier and the key's cap (an unknown cap caps to nothing)."""
        if cap is None or cap not in self._rank or org_tier not in self._rank:
            return org_tier
        return cap if self._rank[cap] < self._rank[org_tier] else org_tier

    def higher_tier(self, tier: str, other: str | None) -> str:
        """The higher of two tiers of this policy (`tier` when `other` is None or unknown)."""
        if other is None or other not in self._rank or tier not in self._rank:
            return tier
        return other if self._rank[other] > self._rank[tier] else tier

    def lowest_allowing_tier(self, model: str, capability: str) -> str | None:
        """The first tier, in the policy's order, allowed `capability` of `model` (governance
        included); None when no tier is. Memoized like the answers: it is asked on denies."""
        question = (model, capability)
        if question in self._lowest:
            return self._lowest[question]
        lowest = next((tier for tier in self.document.tiers
                       if self.decide_tier(tier, model, capability).allow), None)
        if model in self.document.models and capability in self._capabilities:
            self._lowest[question] = lowest  # known names only, so made-up ones cannot grow it
        return lowest

    def decide(self, caller: Caller, model: str, capability: str) -> Verdict:
        """The answer for an authenticated caller: explicit suspensions first, then the policy."""
        if caller.org_suspended:
            return self._deny(Reason.ORG_SUSPENDED, caller.tier, model)
        if caller.key_suspended:
            return self._deny(Reason.KEY_SUSPENDED, caller.tier, model)
        return self.decide_tier(caller.tier, model, capability)

    def decide_tier(self, tier: str, model: str, capability: str) -> Verdict:
        question = (tier, model, capability)
        verdict = self._memo.get(question)
        if verdict is not None:
            return verdict
        # Unknown names are answered without the memo, so made-up names cannot grow it.
        if tier not in self._rank:
            return self._deny(Reason.UNKNOWN_TIER, tier, model)
        if model not in self.document.models:
            return self._deny(Reason.UNKNOWN_MODEL, tier, model)
        if capability not in self._capabilities:
            return self._deny(Reason.UNKNOWN_CAPABILITY, tier, model)
        verdict = self._memo[question] = self._evaluate(tier, model, capability)
        return verdict

    def _deny(self, reason: Reason, tier: str | None, model: str, rule: str | None = None) -> Verdict:
        return Verdict(False, reason, rule, tier, self.version, self._sign_offs.get(model))

    def _evaluate(self, tier: str, model: str, capability: str) -> Verdict:
        access = self.governed.get(model)
        if access is not None and access.retired:
            return self._deny(Reason.MODEL_RETIRED, tier, model, "governance: retired")
        if access is not None and access.suspended:
            return self._deny(Reason.MODEL_SUSPENDED, tier, model, "governance: suspended")
        allowed, rule = self._casbin.ask(tier, model, capability)
        rule_text = ", ".join(["p", *rule]) if rule else None
        if allowed:
            # Governance only ever narrows what the policy grants.
            closed = self._closed_by_governance(access, tier, model)
            return closed or Verdict(True, Reason.GRANTED_BY_TIER, rule_text, tier, self.version,
                                     self._sign_offs.get(model))
        if rule:
            blocked = tuple(rule) in self._blocked and rule[0] == ANY
            return self._deny(Reason.MODEL_BLOCKED if blocked else Reason.DENIED_BY_RULE, tier, model,
                              rule_text)
        higher = self.document.tiers[self._rank[tier] + 1 :]
        if any(self._casbin.ask(other, model, capability)[0] for other in higher):
            return self._deny(Reason.TIER_TOO_LOW, tier, model)
        return self._deny(Reason.NOT_GRANTED, tier, model)

    def _closed_by_governance(self, access: ModelAccess | None, tier: str, model: str) -> Verdict | None:
        if access is None or tier == self.document.tiers[-1]:
            return None
        if access.open_from is None or access.open_from not in self._rank:
            return self._deny(Reason.NOT_SIGNED_OFF, tier, model, "governance: no sign-off in force")
        if self._rank[tier] < self._rank[access.open_from]:
            return self._deny(Reason.SIGNOFF_BELOW_TIER, tier, model,
                              f"governance: signed off for {access.open_from} and above")
        return None
