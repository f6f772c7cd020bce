"""An organisation's usage as the admin UI shows it: tokens and cost per UTC day of the decisions,
its top keys and models, and its budgets as they stand against what it used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from govern.decisions.budgets import BudgetMeter
from govern.decisions.query import ID_TIME_DIGITS, id_at
from govern.models import Usage
from govern.policy.budgets import Budget, cost_text

TOP = 5
# Usage is added up per bucket of the decision ids' leading time digits: 7 of 14 hex digits of
# microseconds is a bucket of 16**7 us (about 4.5 minutes), at most about 320 buckets a day.
BUCKET_DIGITS = 7


@dataclass(frozen=True)
class Consumer:
    name: str  # a key prefix or a model
    tokens: int
    cost: str | None
    calls: int


@dataclass(frozen=True)
class BudgetUse:
    budget: Budget
    tokens: int
    cost_nanos: int

    @property
    def share(self) -> int:
        """The percent used of the budget's tightest unit, capped at 100 for a bar."""
        pairs = ((self.tokens, self.budget.tokens), (self.cost_nanos, self.budget.cost_nanos))
        shares = [used * 100 // limit for used, limit in pairs if limit]
        return min(100, max(shares, default=0))

    @property
    def cost(self) -> str:
        return cost_text(self.cost_nanos) if self.cost_nanos else "0"


@dataclass(frozen=True)
class OrgUsage:
    days: list[str]  # YYYY-MM-DD, oldest first
    tokens: list[int]
    costs: list[int]  # nanos
    keys: list[Consumer]
    models: list[Consumer]
    budgets: list[BudgetUse]

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    @property
    def total_cost(self) -> str:
        return cost_text(sum(self.costs)) if any(self.costs) else "0"


def org_usage(session: Session, org_id: int, budgets: tuple[Budget, ...], meter: BudgetMeter | None,
              now: datetime, days: int = 30) -> OrgUsage:
    """The last `days` UTC days of the organisation's reported usage (by the day of each decision),
    and its budgets' use now (read from the counters, when `meter` is given)."""
    first = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = [(first + timedelta(days=offset)).strftime("%Y-%m-%d") for offset in range(days)]
    window = (Usage.org_id == org_id, Usage.decision_id >= id_at(first))
    tokens_used = Usage.input_tokens + Usage.output_tokens
    by_day: dict[str, tuple[int, int]] = {}
    # The day of a decision is in its id (ids begin with their time): summed by the ids' leading
    # digits in SQL, the same on every database, and into days here.
    # Literal arguments: PostgreSQL matches the grouped expression to the selected one by its text.
    bucket = func.substr(Usage.decision_id, literal_column("1"), literal_column(str(BUCKET_DIGITS)))
    rows = session.execute(select(bucket, func.sum(tokens_used), func.sum(func.coalesce(Usage.cost_nanos, 0)))
                           .where(*window).group_by(bucket))
    for prefix, tokens, cost in rows:
        day = _day_of(prefix)
        before = by_day.get(day, (0, 0))
        by_day[day] = (before[0] + int(tokens or 0), before[1] + int(cost or 0))

    def top(column) -> list[Consumer]:  # type: ignore[no-untyped-def]
        found = session.execute(select(column, func.sum(tokens_used), func.sum(Usage.cost_nanos),
                                       func.count()).where(*window).group_by(column)
                                .order_by(func.sum(tokens_used).desc(), column).limit(TOP))
        return [Consumer(name or "—", int(tokens or 0), cost_text(cost) if cost else None, calls)
                for name, tokens, cost, calls in found]

    at = now.timestamp()
    uses = [BudgetUse(budget, *meter.used(budget, org_id, at)) for budget in budgets] if meter else []
    daily = [by_day.get(day, (0, 0)) for day in labels]
    return OrgUsage(labels, [tokens for tokens, _cost in daily], [cost for _tokens, cost in daily],
                    top(Usage.key_prefix), top(Usage.model), uses)


def _day_of(id_prefix: str) -> str:
    """The UTC day the bucket of a decision id's leading time digits begins on; the one bucket a
    day that spans midnight counts on the day it begins."""
    micros = int(id_prefix.ljust(ID_TIME_DIGITS, "0"), 16)
    return datetime.fromtimestamp(micros / 1e6, UTC).strftime("%Y-%m-%d")
