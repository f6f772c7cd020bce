"""The policy as a document: tiers, capabilities, model groups, grants and blocked models.

Parsing validates everything at once, so a change naming an unknown tier, capability or model group
is refused whole, with a message naming what is wrong. The Casbin rules are derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from govern.errors import PolicyRejected, echo, shorten
from govern.policy.budgets import Budget, parse_budgets

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
ANY = "*"
EFFECTS = ("allow", "deny")
RATE_WINDOWS = ("per_minute", "per_day")


@dataclass(frozen=True, order=True)
class Grant:
    tier: str
    target: str
    capability: str
    effect: str = "allow"

    @property
    def id(self) -> str:
        """Stable identifier, used in URLs: effect:tier:target:capability."""
        return f"{self.effect}:{self.tier}:{self.target}:{self.capability}"

    def as_dict(self) -> dict[str, str]:
        out = {"tier": self.tier, "target": self.target, "capability": self.capability}
        if self.effect != "allow":
            out["effect"] = self.effect
        return out


@dataclass(frozen=True)
class RateLimit:
    """How many decisions a tier may ask for per minute and per day (None: no limit): each key or
    identity alone (per_minute, per_day), and all the keys of one organisation together
    (organisation_per_minute, organisation_per_day), so more keys never buy more decisions.
    `model_groups`: further limits of the same kinds on the decisions about one model group's
    models (group, limit), counted besides these."""

    per_minute: int | None = None
    per_day: int | None = None
    organisation_per_minute: int | None = None
    organisation_per_day: int | None = None
    model_groups: tuple[tuple[str, RateLimit], ...] = ()

    def of_group(self, group: str | None) -> RateLimit | None:
        """The further limit on decisions about `group`'s models, if it has one."""
        for name, limit in self.model_groups:
            if name == group:
                return limit
        return None

    def windows(self) -> tuple[tuple[str, str, int], ...]:
        """(scope, period, limit) of each window set: scope "key" or "organisation", period
        "minute" or "day"; the minutes first, so a caller held back by one keeps its day."""
        made = (("key", "minute", self.per_minute), ("organisation", "minute", self.organisation_per_minute),
                ("key", "day", self.per_day), ("organisation", "day", self.organisation_per_day))
        return tuple((scope, period, limit) for scope, period, limit in made if limit is not None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _set(per_minute=self.per_minute, per_day=self.per_day)
        shared = _set(per_minute=self.organisation_per_minute, per_day=self.organisation_per_day)
        if shared:
            out["organisation"] = shared
        if self.model_groups:
            out["model_groups"] = {group: limit.as_dict() for group, limit in self.model_groups}
        return out


def _set(**windows: int | None) -> dict[str, int]:
    return {window: value for window, value in windows.items() if value is not None}


@dataclass(frozen=True)
class PolicyDocument:
    tiers: tuple[str, ...]
    capabilities: tuple[str, ...]
    model_groups: Mapping[str, tuple[str, ...]]
    grants: tuple[Grant, ...]
    blocked_models: tuple[str, ...] = ()
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    budgets: Mapping[str, tuple[Budget, ...]] = field(default_factory=dict)
    # Budgets of one organisation (by name), in place of its tier's budgets of the same name
    # and besides the others.
    organisation_budgets: Mapping[str, tuple[Budget, ...]] = field(default_factory=dict)
    _model_group: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for group, models in self.model_groups.items():
            for model in models:
                self._model_group[model] = group

    @property
    def models(self) -> Mapping[str, str]:
        """Each model with its group."""
        return self._model_group

    def tier_rank(self, tier: str) -> int:
        return self.tiers.index(tier)

    def budgets_for(self, tier: str | None, org_name: str | None) -> tuple[Budget, ...]:
        """The budgets an organisation's decisions count against: its tier's, each replaced by the
        organisation's own budget of the same name, and the organisation's others."""
        own = self.organisation_budgets.get(org_name or "", ()) if self.organisation_budgets else ()
        tiers = self.budgets.get(tier or "", ())
        if not own:
            return tiers
        names = {budget.name for budget in own}
        return tuple(budget for budget in tiers if budget.name not in names) + own

    def as_dict(self) -> dict[str, Any]:
        return {
            "tiers": list(self.tiers),
            "capabilities": list(self.capabilities),
            "model_groups": {group: list(models) for group, models in self.model_groups.items()},
            "grants": [grant.as_dict() for grant in self.grants],
            "blocked_models": list(self.blocked_models),
            # Only when set, so policies without limits keep their exact earlier form.
            **({"rate_limits": {tier: limit.as_dict() for tier, limit in self.rate_limits.items()}}
               if self.rate_limits else {}),
            **({"budgets": {tier: [budget.as_dict() for budget in budgets]
                            for tier, budgets in self.budgets.items()}} if self.budgets else {}),
            **({"organisation_budgets": {org: [budget.as_dict() for budget in budgets]
                                         for org, budgets in self.organisation_budgets.items()}}
               if self.organisation_budgets else {}),
        }

    def casbin_rules(self) -> list[tuple[str, ...]]:
        """Casbin lines (ptype first). Denies come before allows: with the priority effect the first
        match decides, so an explicit deny always wins."""
        rules: list[tuple[str, ...]] = [
            ("g", upper, lower) for lower, upper in zip(self.tiers, self.tiers[1:], strict=False)
        ]
        rules += [("g2", model, group) for model, group in self._model_group.items()]
        rules += [blocked_rule(model) for model in self.blocked_models]
        ordered = sorted(self.grants, key=lambda grant: grant.effect != "deny")
        rules += [("p", g.tier, g.target, g.capability, g.effect) for g in ordered]
        return rules


def blocked_rule(model: str) -> tuple[str, ...]:
    return ("p", ANY, model, ANY, "deny")


def _names(raw: object, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise PolicyRejected(f"{what} must be a list of names")
    for item in raw:
        if not NAME.match(item):
            raise PolicyRejected(f"{what}: {echo(item)} is not a valid name (letters, digits, . _ : -)")
    duplicates = sorted({item for item in raw if raw.count(item) > 1})
    if duplicates:
        raise PolicyRejected(f"{what}: {shorten(', '.join(duplicates))} listed more than once")
    return tuple(raw)


def _one_of(value: str, known: Iterable[str], what: str, allow_any: bool = True) -> str:
    if (allow_any and value == ANY) or value in known:
        return value
    raise PolicyRejected(f"unknown {what} {echo(value)}", code=f"unknown_{what.replace(' ', '_')}")


def _grant(raw: object, doc_tiers: tuple[str, ...], capabilities: tuple[str, ...],
           targets: set[str]) -> Grant:
    if not isinstance(raw, Mapping):
        raise PolicyRejected("each grant must be a mapping with tier, target and capability")
    unknown_keys = set(raw) - {"tier", "target", "capability", "effect"}
    if unknown_keys:
        fields = ", ".join(sorted(map(str, unknown_keys)))
        raise PolicyRejected(f"grant has unknown fields: {shorten(fields)}")
    values = {key: raw.get(key) for key in ("tier", "target", "capability")}
    for key, value in values.items():
        if not isinstance(value, str):
            raise PolicyRejected(f"grant field {echo(key)} must be a name")
    effect = raw.get("effect", "allow")
    if effect not in EFFECTS:
        raise PolicyRejected(f"grant effect must be allow or deny, got {echo(effect)}")
    grant = Grant(str(values["tier"]), str(values["target"]), str(values["capability"]), effect)
    try:
        _one_of(grant.tier, doc_tiers, "tier", allow_any=effect == "deny")
        _one_of(grant.target, targets, "model group", allow_any=effect == "deny")
        _one_of(grant.capability, capabilities, "capability")
    except PolicyRejected as error:
        # Name the grant: when a tier or group is removed, the grant still using it is the news.
        raise PolicyRejected(f"grant {shorten(grant.id)} names an {error.message}", code=error.code) from None
    return grant


def _rate_limits(raw: object, tiers: tuple[str, ...], groups: Mapping[str, tuple[str, ...]]
                 ) -> dict[str, RateLimit]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyRejected("rate_limits must map tiers to "
                             "{per_minute, per_day, organisation, model_groups}")
    limits: dict[str, RateLimit] = {}
    for tier, windows in raw.items():
        if tier not in tiers:
            raise PolicyRejected(f"rate_limits names an unknown tier {echo(tier)}", code="unknown_tier")
        where = f"rate_limits.{tier}"
        by_group = windows.get("model_groups") if isinstance(windows, Mapping) else None
        if by_group is not None and (not isinstance(by_group, Mapping) or not by_group):
            raise PolicyRejected(f"{where}.model_groups must map model groups to their limits")
        parts = tuple((str(group), _rate_limit(f"{where}.model_groups.{group}", limit, nested=True))
                      for group, limit in (by_group or {}).items())
        for group, _limit in parts:
            if group not in groups:
                raise PolicyRejected(f"{where}.model_groups names an unknown model group {echo(group)}",
                                     code="unknown_model_group")
        overall = {k: v for k, v in windows.items() if k != "model_groups"} if parts else windows
        limits[tier] = replace(_rate_limit(where, overall, nested=False, empty_ok=bool(parts)),
                               model_groups=parts)
    return limits


def _rate_limit(where: str, windows: object, *, nested: bool, empty_ok: bool = False) -> RateLimit:
    """One set of limits: a key's own windows and, under `organisation`, its organisation's."""
    kinds = "per_minute, per_day and/or organisation" + ("" if nested else ", model_groups")
    if not isinstance(windows, Mapping) or not (windows or empty_ok):
        raise PolicyRejected(f"{where} must set {kinds}")
    own = _windows(where, {k: v for k, v in windows.items() if k != "organisation"},
                   extra=("organisation",) if nested else ("organisation", "model_groups"))
    shared: dict[str, int] = {}
    if "organisation" in windows:
        if not isinstance(windows["organisation"], Mapping) or not windows["organisation"]:
            raise PolicyRejected(f"{where}.organisation must set per_minute and/or per_day")
        shared = _windows(f"{where}.organisation", windows["organisation"])
    return RateLimit(own.get("per_minute"), own.get("per_day"),
                     shared.get("per_minute"), shared.get("per_day"))


def _windows(where: str, windows: Mapping[Any, Any], extra: tuple[str, ...] = ()) -> dict[str, int]:
    unknown = set(windows) - set(RATE_WINDOWS)
    if unknown:
        raise PolicyRejected(f"{where} has unknown fields: {shorten(', '.join(sorted(map(str, unknown))))} "
                             f"(known: {', '.join((*RATE_WINDOWS, *extra))})")
    for window, value in windows.items():
        # bool is an int to Python, never a count to a reader.
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PolicyRejected(f"{where}.{window} must be a whole number of at least 1, got {echo(value)}")
    return dict(windows)


def parse_document(raw: object) -> PolicyDocument:
    """Validate a policy given as plain data (from YAML or JSON). Raises PolicyRejected."""
    if not isinstance(raw, Mapping):
        raise PolicyRejected("the policy must be a mapping")
    unknown = set(raw) - {"tiers", "capabilities", "model_groups", "grants", "blocked_models",
                          "rate_limits", "budgets", "organisation_budgets"}
    if unknown:
        raise PolicyRejected(f"unknown policy sections: {', '.join(sorted(unknown))}")
    tiers = _names(raw.get("tiers"), "tiers")
    if not tiers:
        raise PolicyRejected("the policy needs at least one tier")
    capabilities = _names(raw.get("capabilities"), "capabilities")

    groups_raw = raw.get("model_groups") or {}
    if not isinstance(groups_raw, Mapping):
        raise PolicyRejected("model_groups must map each group to a list of models")
    model_groups: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for group, models_raw in groups_raw.items():
        (group_name,) = _names([group], "model groups")
        models = _names(models_raw or [], f"models of group {echo(group_name)}")
        for model in models:
            if model in seen:
                raise PolicyRejected(f"model {echo(model)} is in both {echo(seen[model])} "
                                     f"and {echo(group_name)}")
            seen[model] = group_name
        model_groups[group_name] = models
    clashes = sorted(set(model_groups) & set(seen))
    if clashes:
        raise PolicyRejected(f"{', '.join(clashes)} used as both a model and a model group")
    names_used = set(tiers) & (set(model_groups) | set(seen))
    if names_used:
        raise PolicyRejected(f"{', '.join(sorted(names_used))} used as both a tier and a model name")

    targets = set(model_groups) | set(seen)
    grants_raw = raw.get("grants") or []
    if not isinstance(grants_raw, list):
        raise PolicyRejected("grants must be a list")
    grants = tuple(_grant(item, tiers, capabilities, targets) for item in grants_raw)
    duplicate_grants = sorted({g.id for g in grants if grants.count(g) > 1})
    if duplicate_grants:
        raise PolicyRejected(f"grant listed more than once: {', '.join(duplicate_grants)}")

    blocked = _names(raw.get("blocked_models") or [], "blocked_models")
    for model in blocked:
        if model not in seen:
            raise PolicyRejected(f"unknown model {echo(model)} in blocked_models", code="unknown_model")
    rate_limits = _rate_limits(raw.get("rate_limits"), tiers, model_groups)
    budgets = parse_budgets(raw.get("budgets"), tiers, model_groups)
    own_budgets = parse_budgets(raw.get("organisation_budgets"), None, model_groups,
                                section="organisation_budgets")
    return PolicyDocument(tiers, capabilities, model_groups, grants, blocked, rate_limits, budgets,
                          own_budgets)
