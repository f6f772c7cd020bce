"""What the decision log costs a decision, in CPU: the writer's group commit by group size, the floor
any durable log pays (an append and an fdatasync), and a worker's hand-off to its log thread.

    python bench/log_path_bench.py [--commits 2000] [--database-url URL]

Makes a throwaway instance (`govern init`, SQLite) unless --database-url names a database govern
has initialised. Prints microseconds of CPU per commit and per decision for each, measured in one
run so the ratios hold on a busy machine; appends nothing (copy the figures to bench/RESULTS.md).
Under load a commit holds about three decisions (bench/RESULTS.md, 2026-12-04).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import orjson

from govern.database import new_engine, writers_take_turns
from govern.decisions.log import DecisionLog
from govern.decisions.log_store import FIELDS, Group, Landed, Stored, commit_groups
from govern.decisions.runtime import new_decision_id
from govern.types import DecisionRecord

GROUP_SIZES = (1, 3, 10, 30)


def records(count: int) -> list[DecisionRecord]:
    now = int(time.time() * 1e6)
    return [DecisionRecord(decision_id=new_decision_id(now), created_at_us=now, request_id=None, org_id=None,
                           key_prefix="gvk_bench", tier="verified", model="chat-standard",
                           capability="generate", allow=True, reason="granted_by_tier", policy_version=1,
                           latency_us=120, pep_prefix=None, issuer=None, subject=None, org_name=None,
                           sign_off_id=None)
            for _ in range(count)]


def store_nothing(groups: Sequence[Group], _marks: Sequence[str]) -> Stored:
    """A writer that stores nothing and says every group landed: the hand-off alone."""
    return Stored([Landed.YES] * len(groups), True)


def cpu_per_call(calls: int, call: Callable[[], object]) -> float:
    """Microseconds of this process' CPU (all its threads) per call."""
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000, help="commits per measurement")
    parser.add_argument("--database-url", help="an initialised govern database (default: a new SQLite one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govern-log-bench-") as folder:
        url = args.database_url or f"sqlite:///{folder}/govern.db"
        if args.database_url is None:
            env = {**os.environ, "GOVERN_INSTANCE_PATH": folder, "GOVERN_DATABASE_URL": url}
            subprocess.run([Path(sys.executable).with_name("govern"), "init"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        engine = new_engine(url)
        turn = writers_take_turns(url)

        def commit_one(size: int) -> None:
            """One group commit of `size` new decisions, as the writer process makes it."""
            with turn:
                if commit_groups(engine, [records(size)]).groups != [Landed.YES]:
                    raise SystemExit("a benchmark commit failed; see the log above")

        print(f"{engine.dialect.name}, {args.commits} commits per line; microseconds of CPU")
        print(f"{'what':<44} {'per commit':>11} {'per decision':>13}")
        for size in GROUP_SIZES:
            us = cpu_per_call(args.commits, partial(commit_one, size))
            print(f"{f'group commit of {size} decisions':<44} {us:>11.0f} {us / size:>13.1f}")
        with open(Path(folder) / "appended.log", "ab") as out:
            line = orjson.dumps([FIELDS(record) for record in records(3)])

            def append() -> None:
                out.write(line)
                out.flush()
                os.fdatasync(out.fileno())
            us = cpu_per_call(args.commits, append)
            print(f"{'append + fdatasync of 3 decisions (the floor)':<44} {us:>11.0f} {us / 3:>13.1f}")
        engine.dispose()
    log = DecisionLog(store_nothing, queue_size=10, timeout=2.0)
    log.start()
    one = records(1)
    us = cpu_per_call(args.commits * 5, lambda: log.record(one))
    log.close()
    print(f"{'hand-off to the log thread, nothing stored':<44} {us:>11.0f} {us:>13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
