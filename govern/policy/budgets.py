"""Budgets in the policy: how many tokens, and how much cost, each organisation of a tier may use
per day or per month (UTC), over all models or one model group.

    budgets:
      free:
        - {period: day, tokens: 200000}
        - {period: month, cost: "25.00", model_group: frontier}

Costs are decimal numbers in the currency usage is reported in, held in billionths (nanos) so that
counting them is exact integer arithmetic on every counter store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from govern.errors import PolicyRejected, echo

PERIODS = ("day", "month")
MAX_TOKENS = 10**15
MAX_COST = Decimal(10**9)
NANO = Decimal(1).scaleb(-9)
FIELDS = {"period", "tokens", "cost", "model_group"}


@dataclass(frozen=True)
class Budget:
    """One budget: `tokens` and/or `cost` (in nanos) per `period`, for one model group (None: all
    models)."""

    period: str
    tokens: int | None = None
    cost_nanos: int | None = None
    model_group: str | None = None

    @property
    def name(self) -> str:
        """Stable and short, as answers and counters name it: tokens-day, cost-month-frontier."""
        units = "-".join(unit for unit, value in (("tokens", self.tokens), ("cost", self.cost_nanos))
                         if value is not None)
        return f"{units}-{self.period}" + (f"-{self.model_group}" if self.model_group else "")

    @property
    def text(self) -> str:
        """For a reader: 200000 tokens and 25 in cost per month on frontier."""
        amounts = ([f"{self.tokens} tokens"] if self.tokens is not None else []) + \
            ([f"{cost_text(self.cost_nanos)} in cost"] if self.cost_nanos is not None else [])
        return f"{' and '.join(amounts)} per {self.period}" + \
            (f" on {self.model_group}" if self.model_group else "")

    def applies_to(self, group: str | None) -> bool:
        return self.model_group is None or self.model_group == group

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"period": self.period}
        if self.tokens is not None:
            out["tokens"] = self.tokens
        if self.cost_nanos is not None:
            out["cost"] = cost_text(self.cost_nanos)
        if self.model_group is not None:
            out["model_group"] = self.model_group
        return out


def cost_nanos(value: object, where: str) -> int:
    """A cost given as a number or a decimal string, in billionths; PolicyRejected if it is none."""
    try:
        cost = Decimal(str(value).strip()) if not isinstance(value, bool) else Decimal("NaN")
    except InvalidOperation:
        cost = Decimal("NaN")
    if not cost.is_finite() or not 0 < cost <= MAX_COST:
        raise PolicyRejected(f"{where} must be a decimal number above 0 and at most {MAX_COST}, "
                             f"got {echo(value)}")
    return int(cost.quantize(NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def cost_text(nanos: int) -> str:
    """A cost in nanos as the shortest decimal string that is exact: 25, 0.5, 0.000000001."""
    text = format(Decimal(nanos).scaleb(-9).quantize(NANO), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_budgets(raw: object, tiers: tuple[str, ...] | None, groups: Mapping[str, tuple[str, ...]],
                  section: str = "budgets") -> dict[str, tuple[Budget, ...]]:
    """The `budgets` section (by tier, each of `tiers`), or with `tiers` None the
    `organisation_budgets` section (by organisation name; that the organisations exist is checked
    where the policy is stored)."""
    if raw is None:
        return {}
    holder = "tier" if tiers is not None else "organisation"
    if not isinstance(raw, Mapping):
        raise PolicyRejected(f"{section} must map {holder}s to lists of "
                             "{period, tokens, cost, model_group}")
    budgets: dict[str, tuple[Budget, ...]] = {}
    for name, items in raw.items():
        if tiers is not None and name not in tiers:
            raise PolicyRejected(f"{section} names an unknown tier {echo(name)}", code="unknown_tier")
        if not isinstance(name, str) or not name:
            raise PolicyRejected(f"{section} must be keyed by {holder} names, got {echo(name)}")
        if not isinstance(items, list) or not items:
            raise PolicyRejected(f"{section} of {holder} {echo(name)} must be a list of budgets")
        parsed = tuple(_budget(item, f"{section}.{name}[{index}]", groups)
                       for index, item in enumerate(items))
        names = [budget.name for budget in parsed]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PolicyRejected(f"{section} of {holder} {echo(name)} set {', '.join(twice)} more than once")
        budgets[name] = parsed
    return budgets


def _budget(item: object, where: str, groups: Mapping[str, tuple[str, ...]]) -> Budget:
    if not isinstance(item, Mapping):
        raise PolicyRejected(f"{where} must be a mapping of period, tokens, cost and model_group")
    unknown = set(item) - FIELDS
    if unknown:
        raise PolicyRejected(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))} "
                             f"(known: {', '.join(sorted(FIELDS))})")
    period = item.get("period")
    if period not in PERIODS:
        raise PolicyRejected(f"{where}.period must be one of {', '.join(PERIODS)}, got {echo(period)}")
    if item.get("tokens") is None and item.get("cost") is None:
        raise PolicyRejected(f"{where} must set tokens and/or cost")
    tokens = item.get("tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)
                               or not 1 <= tokens <= MAX_TOKENS):
        raise PolicyRejected(f"{where}.tokens must be a whole number from 1 to {MAX_TOKENS}, "
                             f"got {echo(tokens)}")
    cost = cost_nanos(item["cost"], f"{where}.cost") if item.get("cost") is not None else None
    group = item.get("model_group")
    if group is not None and group not in groups:
        raise PolicyRejected(f"{where}.model_group names an unknown model group {echo(group)}",
                             code="unknown_model_group")
    return Budget(str(period), tokens, cost, group)
