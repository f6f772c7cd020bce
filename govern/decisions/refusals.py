"""Bounding what unauthenticated requests cost the decision log.

Anyone who reaches the port can send requests without a valid key, each of them a decision the
log keeps. Each source (the request's remote address) has its own rows for the first `per_minute`
such attempts of a minute; past that, its attempts are answered at once and counted into one
aggregate row per reason, committed within FLUSH_SECONDS with `attempts` saying how many it
stands for. The log grows by a bounded number of rows a second whatever the attack, every attempt
is still counted (also in the metrics), and a caller told a decision id finds it in the log.

The allowance is per worker process: a machine with N workers gives a source up to N × `per_minute`
rows of its own a minute. Only refusals are aggregated, never an allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from govern.decisions import metrics
from govern.types import DecisionRecord, Reason

FLUSH_SECONDS = 1.0


@dataclass(slots=True)
class _Aggregate:
    record: DecisionRecord  # the row to be, but for its count
    opened: float  # monotonic
    attempts: int = 0


class RefusalBudget:
    """Which unauthenticated attempts get a row of their own, and the aggregate rows of the rest."""

    def __init__(self, per_minute: int, new_id: Callable[[int], str]) -> None:
        self._limiter = FixedWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerMinute(per_minute)
        self._new_id = new_id
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str | None], _Aggregate] = {}
        self._retry: list[DecisionRecord] = []

    def alone(self, source: str | None) -> bool:
        """Whether this attempt from `source` gets a row of its own."""
        return bool(self._limiter.hit(self._item, source or "unknown"))

    def absorb(self, reason: Reason, pep_prefix: str | None, policy_version: int | None,
               now: float) -> str:
        """Count one attempt into the open aggregate for `reason` (opened if none); its decision id."""
        metrics.REFUSALS_AGGREGATED.labels(reason.value).inc()
        key = (reason.value, pep_prefix)
        with self._lock:
            aggregate = self._open.get(key)
            if aggregate is None:
                now_us = int(now * 1e6)
                aggregate = self._open[key] = _Aggregate(DecisionRecord(
                    decision_id=self._new_id(now_us), created_at_us=now_us, request_id=None,
                    org_id=None, key_prefix=None, tier=None, model=None, capability=None,
                    allow=False, reason=reason.value, policy_version=policy_version, latency_us=0,
                    pep_prefix=pep_prefix), time.monotonic())
            aggregate.attempts += 1
            return aggregate.record.decision_id

    def due(self, *, everything: bool = False) -> list[DecisionRecord]:
        """Take the aggregates open for FLUSH_SECONDS (or all of them), to be committed."""
        limit = time.monotonic() - FLUSH_SECONDS
        with self._lock:
            keys = [key for key, aggregate in self._open.items() if everything or aggregate.opened <= limit]
            closed = [self._open.pop(key) for key in keys]
            taken, self._retry = self._retry + [replace(a.record, attempts=a.attempts) for a in closed], []
            return taken

    def pending(self) -> int:
        """How many aggregate rows wait to be committed."""
        with self._lock:
            return len(self._open) + len(self._retry)

    def put_back(self, records: list[DecisionRecord]) -> None:
        """Aggregates that could not be committed go with the next flush, counts and ids kept."""
        with self._lock:
            self._retry.extend(records)
