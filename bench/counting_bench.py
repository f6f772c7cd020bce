"""What counting costs a decision: rate limits (per key, per organisation, per model group) and a
budget reservation, in the default counter store (the shared memory-mapped file), in CPU time.

    python bench/counting_bench.py [--decisions 20000]

Prints microseconds of CPU per decision for each way of counting, measured in one run, so the
ratios hold even on a busy machine; appends nothing (copy the figures to bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from govern.decisions.budgets import BudgetMeter
from govern.decisions.ratelimit import Counters, RateLimiter
from govern.policy.budgets import Budget
from govern.policy.document import RateLimit

PER_KEY = RateLimit(per_minute=10**9, per_day=10**12)
SHARED = RateLimit(per_minute=10**9, per_day=10**12,
                   organisation_per_minute=10**9, organisation_per_day=10**12)
GROUPED = RateLimit(per_minute=10**9, per_day=10**12,
                    model_groups=(("frontier", RateLimit(per_minute=10**9, per_day=10**12)),))
BUDGETS = (Budget("day", tokens=10**15), Budget("month", tokens=10**15, cost_nanos=10**18))


def cpu_per_decision(decisions: int, count: object) -> float:
    started = time.process_time()
    for index in range(decisions):
        count(index)  # type: ignore[operator]
    return (time.process_time() - started) / decisions * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=20_000)
    decisions = parser.parse_args().decisions
    with tempfile.TemporaryDirectory() as folder:
        counters = Counters(f"mmap://{Path(folder) / 'ratelimits.counters'}")
        limiter, meter = RateLimiter(counters), BudgetMeter(counters)
        key = {"key": "gvk_benchmark0001"}
        both = {**key, "organisation": "org:1"}
        now = time.time()
        ways = {
            # As /v1/check counts: each question with its model's group.
            "nothing counted (no limit, no budget)": lambda i: limiter.take_each(None, key, ["open"]),
            "rate limit per key (minute + day)": lambda i: limiter.take_each(PER_KEY, key, ["open"]),
            "rate limits per key and organisation": lambda i: limiter.take_each(SHARED, both, ["open"]),
            "per key, and per key on the model's group":
                lambda i: limiter.take_each(GROUPED, key, ["frontier"]),
            "budget reservation, no estimate (2 budgets)":
                lambda i: meter.reserve(BUDGETS, 1, None, f"d{i}", 0, now),
            "budget reservation of max_tokens (2 budgets)":
                lambda i: meter.reserve(BUDGETS, 1, None, f"d{i}", 100, now),
        }
        for name, way in ways.items():
            print(f"{name:48s} {cpu_per_decision(decisions, way):7.1f} us of CPU per decision")
        counters.close()


if __name__ == "__main__":
    main()
