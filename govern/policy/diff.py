"""What changes between two policies, as structured data for the UI, the admin API and the CLI.

Pure functions: no database, no Flask. `diff_policies` is the one place that compares policies;
`diff_lines` renders its result as plain text lines for the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govern.policy.budgets import Budget
from govern.policy.document import Grant, PolicyDocument, RateLimit


@dataclass(frozen=True)
class NamesDiff:
    """Names added and removed (in the order the new and old documents list them)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True)
class TiersDiff(NamesDiff):
    """Tiers added and removed, and whether the tiers both documents hold changed order."""

    reordered: bool = False
    old_order: tuple[str, ...] = ()
    new_order: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.reordered)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "reordered": self.reordered, "old_order": list(self.old_order),
                "new_order": list(self.new_order)}


@dataclass(frozen=True)
class GroupChange:
    """A model group present in both documents whose models changed."""

    group: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True)
class RateLimitChange:
    """One tier's limits before and after (None: no limit in that window)."""

    tier: str
    old: RateLimit
    new: RateLimit

    @property
    def old_text(self) -> str:
        return _limit_text(self.old)

    @property
    def new_text(self) -> str:
        return _limit_text(self.new)

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "old": _limit_dict(self.old), "new": _limit_dict(self.new)}


@dataclass(frozen=True)
class BudgetChange:
    """One tier's (or, with `kind` "organisation", one organisation's) budgets before and after
    (empty: no budget)."""

    holder: str
    old: tuple[Budget, ...]
    new: tuple[Budget, ...]
    kind: str = "tier"

    @property
    def old_text(self) -> str:
        return _budgets_text(self.old)

    @property
    def new_text(self) -> str:
        return _budgets_text(self.new)

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: self.holder, "old": [budget.as_dict() for budget in self.old],
                "new": [budget.as_dict() for budget in self.new]}


@dataclass(frozen=True)
class PolicyDiff:
    tiers: TiersDiff
    capabilities: NamesDiff
    groups_added: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups_removed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups_changed: tuple[GroupChange, ...] = ()
    grants_added: tuple[Grant, ...] = ()
    grants_removed: tuple[Grant, ...] = ()
    blocked_models: NamesDiff = NamesDiff()
    rate_limits: tuple[RateLimitChange, ...] = ()
    budgets: tuple[BudgetChange, ...] = ()
    organisation_budgets: tuple[BudgetChange, ...] = ()
    model_conf_changed: bool = False

    @property
    def empty(self) -> bool:
        """True when the two policies are the same (the Casbin model included)."""
        return not (self.tiers or self.capabilities or self.groups_added or self.groups_removed
                    or self.groups_changed or self.grants_added or self.grants_removed
                    or self.blocked_models or self.rate_limits or self.budgets or self.organisation_budgets
                    or self.model_conf_changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "empty": self.empty,
            "tiers": self.tiers.as_dict(),
            "capabilities": self.capabilities.as_dict(),
            "model_groups": {
                "added": {group: list(models) for group, models in self.groups_added.items()},
                "removed": {group: list(models) for group, models in self.groups_removed.items()},
                "changed": [change.as_dict() for change in self.groups_changed],
            },
            "grants": {"added": [grant.as_dict() | {"effect": grant.effect} for grant in self.grants_added],
                       "removed": [grant.as_dict() | {"effect": grant.effect}
                                   for grant in self.grants_removed]},
            "blocked_models": self.blocked_models.as_dict(),
            "rate_limits": [change.as_dict() for change in self.rate_limits],
            "budgets": [change.as_dict() for change in self.budgets],
            "organisation_budgets": [change.as_dict() for change in self.organisation_budgets],
            "model_conf_changed": self.model_conf_changed,
        }


def _names(old: tuple[str, ...], new: tuple[str, ...]) -> NamesDiff:
    return NamesDiff(tuple(n for n in new if n not in old), tuple(n for n in old if n not in new))


def _tiers(old: tuple[str, ...], new: tuple[str, ...]) -> TiersDiff:
    names = _names(old, new)
    kept_old = [tier for tier in old if tier in new]
    kept_new = [tier for tier in new if tier in old]
    return TiersDiff(names.added, names.removed, kept_old != kept_new, old, new)


def diff_policies(old: PolicyDocument, new: PolicyDocument, old_model_conf: str = "",
                  new_model_conf: str = "") -> PolicyDiff:
    """Everything `new` changes relative to `old`. Grants compare whole (tier, target, capability,
    effect); a group present in both is reported by the models it gains and loses."""
    groups_changed = []
    for group, models in new.model_groups.items():
        if group in old.model_groups:
            before = old.model_groups[group]
            change = _names(before, models)
            if change:
                groups_changed.append(GroupChange(group, change.added, change.removed))
    limits = []
    for tier in dict.fromkeys([*old.rate_limits, *new.rate_limits]):
        before_limit = old.rate_limits.get(tier, RateLimit())
        after_limit = new.rate_limits.get(tier, RateLimit())
        if before_limit != after_limit:
            limits.append(RateLimitChange(tier, before_limit, after_limit))
    budgets = _budget_changes(old.budgets, new.budgets, "tier")
    return PolicyDiff(
        tiers=_tiers(old.tiers, new.tiers),
        capabilities=_names(old.capabilities, new.capabilities),
        groups_added={g: m for g, m in new.model_groups.items() if g not in old.model_groups},
        groups_removed={g: m for g, m in old.model_groups.items() if g not in new.model_groups},
        groups_changed=tuple(groups_changed),
        grants_added=tuple(g for g in new.grants if g not in old.grants),
        grants_removed=tuple(g for g in old.grants if g not in new.grants),
        blocked_models=_names(old.blocked_models, new.blocked_models),
        rate_limits=tuple(limits),
        budgets=budgets,
        organisation_budgets=_budget_changes(old.organisation_budgets, new.organisation_budgets,
                                             "organisation"),
        model_conf_changed=old_model_conf != new_model_conf,
    )


def _limit_dict(limit: RateLimit) -> dict[str, Any]:
    out: dict[str, Any] = {"per_minute": limit.per_minute, "per_day": limit.per_day,
                           "organisation_per_minute": limit.organisation_per_minute,
                           "organisation_per_day": limit.organisation_per_day}
    if limit.model_groups:
        out["model_groups"] = {group: _limit_dict(of_group) for group, of_group in limit.model_groups}
    return out


def _limit_text(limit: RateLimit) -> str:
    parts = [f"{limit.per_minute}/min" if limit.per_minute is not None else "no per-minute limit",
             f"{limit.per_day}/day" if limit.per_day is not None else "no per-day limit"]
    windows = ((limit.organisation_per_minute, "min"), (limit.organisation_per_day, "day"))
    shared = [f"{value}/{period}" for value, period in windows if value is not None]
    if shared:
        parts.append(f"organisation {' and '.join(shared)}")
    parts += [f"on {group}: {_limit_text(of_group)}" for group, of_group in limit.model_groups]
    return ", ".join(parts)


def _budget_changes(old: Mapping[str, tuple[Budget, ...]], new: Mapping[str, tuple[Budget, ...]],
                    kind: str) -> tuple[BudgetChange, ...]:
    return tuple(BudgetChange(holder, old.get(holder, ()), new.get(holder, ()), kind)
                 for holder in dict.fromkeys([*old, *new])
                 if set(old.get(holder, ())) != set(new.get(holder, ())))


def _budgets_text(budgets: tuple[Budget, ...]) -> str:
    return "; ".join(budget.text for budget in budgets) or "no budget"


def _grant_text(grant: Grant) -> str:
    return f"{grant.effect} {grant.tier} {grant.capability} on {grant.target}"


def diff_lines(diff: PolicyDiff) -> list[str]:
    """The diff as plain lines ('+' added, '-' removed, '~' changed); one line when nothing changes."""
    if diff.empty:
        return ["no change"]
    lines: list[str] = []
    lines += [f"+ tier {t}" for t in diff.tiers.added] + [f"- tier {t}" for t in diff.tiers.removed]
    if diff.tiers.reordered:
        lines.append(f"~ tiers reordered: {' < '.join(diff.tiers.old_order)} -> "
                     f"{' < '.join(diff.tiers.new_order)}")
    lines += [f"+ capability {c}" for c in diff.capabilities.added]
    lines += [f"- capability {c}" for c in diff.capabilities.removed]
    lines += [f"+ model group {g}: {', '.join(m) or '(no models)'}" for g, m in diff.groups_added.items()]
    lines += [f"- model group {g}" for g in diff.groups_removed]
    for change in diff.groups_changed:
        lines += [f"+ model {m} in group {change.group}" for m in change.added]
        lines += [f"- model {m} from group {change.group}" for m in change.removed]
    lines += [f"+ grant {_grant_text(g)}" for g in diff.grants_added]
    lines += [f"- grant {_grant_text(g)}" for g in diff.grants_removed]
    lines += [f"+ blocked model {m}" for m in diff.blocked_models.added]
    lines += [f"- blocked model {m}" for m in diff.blocked_models.removed]
    lines += [f"~ rate limits of {c.tier}: {_limit_text(c.old)} -> {_limit_text(c.new)}"
              for c in diff.rate_limits]
    lines += [f"~ budgets of {c.holder}: {c.old_text} -> {c.new_text}" for c in diff.budgets]
    lines += [f"~ budgets of organisation {c.holder}: {c.old_text} -> {c.new_text}"
              for c in diff.organisation_budgets]
    if diff.model_conf_changed:
        lines.append("~ the Casbin model text changed")
    return lines
