"""Budgets: the tokens and cost each organisation uses per UTC day and month, against its tier's
budgets, counted in the same shared counter store as rate limits (exact across the workers of a
machine, and across nodes with Redis).

A check may reserve what a call is expected to use (`max_tokens` in its context): the estimate is
counted at once, so concurrent calls cannot together overspend a token budget by more than they
hold in flight, and a call whose estimate does not fit is refused. The usage report of the call
(POST /v1/usage) settles it: what it used replaces what it reserved, and costs are counted. A
budget used up refuses every further allow with reason budget_exhausted until its window restarts.

Crossing 80 % or 100 % of a budget is reported once per window (the report that crosses it sees
it), for the audit trail and the notifications that follow it.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.decisions.ratelimit import Counters
from govern.models import Organisation
from govern.policy.budgets import Budget

THRESHOLDS = (80, 100)  # percent
# How long a counter outlives the start of its window: its name carries the window's start, so it
# is only ever read within the window; a day and a month of grace keep it that long on any clock.
KEEP_SECONDS = {"day": 2 * 86_400, "month": 62 * 86_400}
RESERVATION_SECONDS = 2 * 86_400  # a usage report may come this long after its check


@dataclass(frozen=True, slots=True)
class Spent:
    """A budget that refuses: which, and when (epoch seconds) its window restarts."""

    budget: Budget
    resets_at: float


@dataclass(frozen=True, slots=True)
class Crossing:
    """A budget's use crossing a threshold: `percent` of it, `used` of `limit` (tokens or nanos)."""

    budget: Budget
    unit: str  # "tokens" or "cost"
    percent: int
    used: int
    limit: int
    window_start: datetime


def window(period: str, at: float) -> tuple[datetime, datetime]:
    """The UTC day or month holding `at`: its start and its end."""
    moment = datetime.fromtimestamp(at, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, datetime.fromtimestamp(start.timestamp() + 86_400, UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, datetime.fromtimestamp(start.timestamp() + days * 86_400, UTC)


def _counter(org_id: int, budget: Budget, start: datetime, unit: str) -> str:
    return f"govern/budget/org:{org_id}/{budget.name}/{start:%Y%m%d}/{unit}"


def _reservation(decision_id: str) -> str:
    return f"govern/budget/reserved/{decision_id}"


class BudgetMeter:
    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def reserve(self, budgets: Sequence[Budget], org_id: int, group: str | None, decision_id: str,
                estimate: int, now: float) -> Spent | None:
        """Hold `estimate` tokens of every token budget of `group` for the decision `decision_id`,
        or refuse: the first budget used up (or that the estimate does not fit in), nothing held.
        Raises limits' StorageError when the counters cannot answer."""
        held: list[str] = []
        for budget in (b for b in budgets if b.applies_to(group)):
            start, end = window(budget.period, now)
            spent = Spent(budget, end.timestamp())
            if budget.cost_nanos is not None and \
                    self._counters.read(_counter(org_id, budget, start, "cost")) >= budget.cost_nanos:
                self._give_back(held, estimate)
                return spent
            if budget.tokens is not None:
                name = _counter(org_id, budget, start, "tokens")
                count, _resets_at = self._counters.count(name, KEEP_SECONDS[budget.period], estimate)
                if estimate:
                    held.append(name)
                if count - estimate >= budget.tokens or count > budget.tokens:
                    self._give_back(held, estimate)
                    return spent
        if held:
            self._counters.count(_reservation(decision_id), RESERVATION_SECONDS, estimate)
        return None

    def settle(self, budgets: Sequence[Budget], org_id: int, group: str | None, decision_id: str,
               decided_at: float, tokens: int, cost_nanos: int | None, once: str = "") -> list[Crossing]:
        """Count what the decision's call used, in the windows of its decision, in place of what
        it reserved; the thresholds this report crossed. With `once`, a report settled before
        under that name (a retry after a failure) is not counted again. Raises limits'
        StorageError."""
        if once and self._counters.count(f"govern/budget/settled/{decision_id}/{once}",
                                         RESERVATION_SECONDS, 1)[0] > 1:
            return []
        reserved = self._counters.read(_reservation(decision_id))
        if reserved:
            self._counters.refund(_reservation(decision_id), reserved)
        crossings: list[Crossing] = []
        for budget in (b for b in budgets if b.applies_to(group)):
            start, _end = window(budget.period, decided_at)
            if budget.tokens is not None:
                crossings += self._add(budget, start, "tokens", _counter(org_id, budget, start, "tokens"),
                                       tokens - reserved, budget.tokens)
            if budget.cost_nanos is not None and cost_nanos:
                crossings += self._add(budget, start, "cost", _counter(org_id, budget, start, "cost"),
                                       cost_nanos, budget.cost_nanos)
        return crossings

    def used(self, budget: Budget, org_id: int, now: float) -> tuple[int, int]:
        """(tokens, cost in nanos) the organisation used of `budget` in its window now."""
        start, _end = window(budget.period, now)
        return (self._counters.read(_counter(org_id, budget, start, "tokens")),
                self._counters.read(_counter(org_id, budget, start, "cost")))

    def _add(self, budget: Budget, start: datetime, unit: str, name: str, delta: int,
             limit: int) -> list[Crossing]:
        if delta < 0:
            self._counters.refund(name, -delta)  # it used less than it reserved
            return []
        after, _resets_at = self._counters.count(name, KEEP_SECONDS[budget.period], delta)
        before = after - delta
        return [Crossing(budget, unit, percent, after, limit, start) for percent in THRESHOLDS
                if before * 100 < percent * limit <= after * 100]

    def _give_back(self, names: list[str], amount: int) -> None:
        for name in names:
            self._counters.refund(name, amount)


def record_crossings(engine: Engine, org_id: int, decision_id: str, crossings: Sequence[Crossing]) -> None:
    """An audit event (budget.threshold) for each threshold crossed, naming the report that did."""
    with Session(engine) as session, session.begin():
        org = session.get(Organisation, org_id)
        for crossing in crossings:
            budget = crossing.budget
            record_event(session, actor="govern", action="budget.threshold",
                         target=f"org:{org_id}" + (f" ({org.name})" if org else ""),
                         after={"budget": budget.name, "unit": crossing.unit, "percent": crossing.percent,
                                "used": crossing.used, "limit": crossing.limit, "period": budget.period,
                                "model_group": budget.model_group, "decision_id": decision_id,
                                "window_start": crossing.window_start.isoformat()})
