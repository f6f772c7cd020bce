"""Reads what bench/run.sh measured, prints the comparison table, checks the targets and appends
both with the machine's facts to bench/RESULTS.md. A missed target is a FAIL line, not an error:
the exit status is 0 either way, since the run is a measurement.

`summary`, `machine` and `publish` serve bench/scale_bench.py too."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from production import PER_DAY, PER_MINUTE

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# govern ≥ this × Cerbos's requests/s on the same workload, per database.
CERBOS_TARGETS = {"sqlite": 2.0, "postgresql": 1.0}
CEILING_TARGET = 0.5  # govern on SQLite, single checks
P99_TARGET_MS = 10.0


def summary(path: Path) -> dict[str, float]:
    run: dict[str, float] = json.loads(path.read_text().strip().splitlines()[-1])
    run["rps"] = run["requests"] / (run["duration_us"] / 1e6)
    return run


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, govern commit {commit or 'unknown'}")


def publish(lines: list[str], results: str | Path) -> None:
    """Print `lines` under a heading with the current time and append them to `results`."""
    report = "\n".join([f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", *lines, ""])
    print(report)
    with open(results, "a") as out:
        out.write(report + "\n")


@dataclass(frozen=True)
class Run:
    """One server under one workload: a warm-up and the measured wrk run."""

    label: str
    measured: dict[str, float]
    warmup: dict[str, float]
    per_request: int  # decisions asked by each request
    cpu_seconds: float  # used by the server's processes (and PostgreSQL's) during the measured run

    @classmethod
    def read(cls, work: Path, name: str, label: str, per_request: int) -> Run:
        before, after = (float(n) for n in (work / f"{name}.cpu").read_text().split())
        return cls(label, summary(work / f"{name}.json"), summary(work / f"{name}.warmup.json"), per_request,
                   after - before)

    @property
    def cpu_us(self) -> float:
        """Microseconds of the server's CPU per answered request of the measured run."""
        return self.cpu_seconds / max(1.0, self.measured["requests"]) * 1e6

    @property
    def rps(self) -> float:
        return self.measured["rps"]

    @property
    def p99_ms(self) -> float:
        return self.measured["p99_us"] / 1000

    @property
    def failed(self) -> int:
        """Answers that were not 2xx (wrk counts 4xx and 5xx), and requests with no answer."""
        return int(self.measured["non_2xx"] + self.measured["socket_errors"])

    @property
    def answered(self) -> int:
        """Successful answers wrk read, warm-up included."""
        return int(sum(run["requests"] - run["non_2xx"] for run in (self.measured, self.warmup)))


def verdict(ok: bool, text: str) -> str:
    return f"- {'PASS' if ok else 'FAIL'}: {text}"


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--work", "--results", "--duration"):
        parser.add_argument(name, required=True)
    for name in ("--batch", "--workers", "--threads", "--connections"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    work = Path(args.work)
    workloads = {"check": (1, "single checks"), "batch": (args.batch, f"batches of {args.batch}")}

    ceiling = Run.read(work, "ceiling-check", "ceiling (constant Flask answer)", 1)
    cerbos = {workload: Run.read(work, f"cerbos-{workload}", "Cerbos, decision log on", size)
              for workload, (size, _) in workloads.items()}
    govern = {(backend, workload): Run.read(work, f"{backend}-{workload}", f"govern, {label}", size)
              for backend, label in BACKENDS.items() for workload, (size, _) in workloads.items()}

    table = ["| workload | server | requests/s | decisions/s | p50 ms | p99 ms | non-2xx | server CPU µs "
             "per request | × ceiling | × Cerbos |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for workload, (_, title) in workloads.items():
        runs = [*(govern[backend, workload] for backend in BACKENDS),
                *([ceiling] if workload == "check" else []), cerbos[workload]]
        for run in runs:
            # The ceiling answers single checks only: batches have nothing to compare with.
            to_ceiling = f"{run.rps / ceiling.rps:.2f}" if workload == "check" else "—"
            table.append(f"| {title} | {run.label} | {run.rps:,.0f} | {run.rps * run.per_request:,.0f} "
                         f"| {run.measured['p50_us'] / 1000:.2f} | {run.p99_ms:.2f} | {run.failed} "
                         f"| {run.cpu_us:,.0f} | {to_ceiling} | {run.rps / cerbos[workload].rps:.2f} |")

    checks: list[tuple[bool, str]] = []
    for workload, (_, title) in workloads.items():
        for backend, target in CERBOS_TARGETS.items():
            ratio = govern[backend, workload].rps / cerbos[workload].rps
            checks.append((ratio >= target, f"{title}, govern on {BACKENDS[backend]} ≥ {target:g}× Cerbos "
                                            f"requests/s ({ratio:.2f}×)"))
    ratio = govern["sqlite", "check"].rps / ceiling.rps
    checks.append((ratio >= CEILING_TARGET,
                   f"single checks, govern on SQLite ≥ {CEILING_TARGET:g}× the ceiling ({ratio:.2f}×)"))
    for (backend, workload), run in govern.items():
        name = f"{workloads[workload][1]}, govern on {BACKENDS[backend]}"
        rows, limited = (int(n) for n in (work / f"{backend}-{workload}.rows").read_text().split())
        # wrk drops the requests still in flight when a run ends (at most one per connection, two
        # runs): govern answered and logged those too, wrk just never read the answers.
        expected, slack = run.answered * run.per_request, 2 * args.connections * run.per_request
        checks += [
            (run.p99_ms <= P99_TARGET_MS, f"{name}: p99 ≤ {P99_TARGET_MS:g} ms ({run.p99_ms:.2f} ms)"),
            (run.failed == 0, f"{name}: zero non-2xx ({run.failed})"),
            (0 <= rows - expected <= slack,
             f"{name}: decision rows = {run.per_request} × answered requests ({rows:,} rows, "
             f"{run.answered:,} answers read by wrk, {rows - expected:,} rows for requests still in "
             f"flight when wrk stopped, at most {slack:,})"),
            (limited == 0, f"{name}: no decision refused by a rate limit ({limited:,})"),
        ]

    failed = sum(not ok for ok, _ in checks)
    audit = {workload: int((work / f"cerbos-{workload}.audit").read_text()) for workload in workloads}
    publish([
        f"Machine: {machine()}, SQLite {sqlite3.sqlite_version}, "
        f"{(work / 'postgresql.facts').read_text().strip()}; load average "
        f"{(work / 'load-at-start').read_text().strip()} at the start.",
        f"Load: wrk, 2 threads, {args.connections} connections, {args.duration} after a warm-up, a "
        f"fresh server for each workload. `govern serve` and the ceiling: {args.workers} granian WSGI "
        f"workers × {args.threads} threads. govern with production settings: `GOVERN_ENV=production`, "
        f"the JSON access log on (to a file), rate limits on every tier ({PER_MINUTE:,} a minute, "
        f"{PER_DAY:,} a day per key) counted in the default store, every decision committed before "
        f"it is answered. Cerbos "
        f"wrote {audit['check']:,} audit log lines for single checks and {audit['batch']:,} for batches "
        f"(one line per request, holding all of its decisions).",
        "",
        *table,
        "",
        *(verdict(ok, text) for ok, text in checks),
        "",
        f"**{failed} of {len(checks)} targets FAIL.**" if failed else f"All {len(checks)} targets PASS.",
    ], args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
