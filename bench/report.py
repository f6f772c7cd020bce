"""Reads the wrk summaries of bench/run.sh, prints the comparison table, checks the targets and
appends the table with the machine's facts to bench/RESULTS.md. Exit status 1 if a target fails.

`summary`, `machine` and `publish` serve bench/scale_bench.py too."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def summary(path: Path) -> dict[str, float]:
    run = json.loads(path.read_text().strip().splitlines()[-1])
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


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--work", "--results", "--duration"):
        parser.add_argument(name, required=True)
    for name in ("--rows", "--cerbos-audit-lines", "--workers", "--threads", "--connections"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    work = Path(args.work)
    govern, ceiling, cerbos = (summary(work / f"{name}.json") for name in ("govern", "ceiling", "cerbos"))
    answered = sum(summary(work / f"govern{part}.json")["requests"] - summary(
        work / f"govern{part}.json")["non_2xx"] for part in ("", ".warmup"))

    rows = [("govern", govern), ("ceiling (constant Flask answer)", ceiling), ("Cerbos, decision log on", cerbos)]
    table = ["| server | requests/s | p50 ms | p99 ms | non-2xx | × ceiling | × Cerbos |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, run in rows:
        table.append(f"| {name} | {run['rps']:,.0f} | {run['p50_us'] / 1000:.2f} | {run['p99_us'] / 1000:.2f} "
                     f"| {run['non_2xx'] + run['socket_errors']} | {run['rps'] / ceiling['rps']:.2f} "
                     f"| {run['rps'] / cerbos['rps']:.2f} |")
    checks = [
        (f"govern ≥ 2× Cerbos requests/s ({govern['rps'] / cerbos['rps']:.2f}×)",
         govern["rps"] >= 2 * cerbos["rps"]),
        (f"govern ≥ 0.8× the ceiling ({govern['rps'] / ceiling['rps']:.2f}×)",
         govern["rps"] >= 0.8 * ceiling["rps"]),
        (f"govern p99 ≤ 10 ms ({govern['p99_us'] / 1000:.2f} ms)", govern["p99_us"] <= 10_000),
        (f"govern: zero non-2xx ({govern['non_2xx'] + govern['socket_errors']})",
         govern["non_2xx"] + govern["socket_errors"] == 0),
        # wrk drops the requests still in flight when a run ends (at most one per connection, two
        # runs): govern answered and logged those too, wrk just never read the answers.
        (f"decision rows = answered requests ({args.rows:,} rows, {answered:,} answers read by wrk, "
         f"{args.rows - answered} in flight when wrk stopped, at most {2 * args.connections})",
         0 <= args.rows - answered <= 2 * args.connections),
    ]
    publish([
        f"Machine: {machine()}. Load: wrk, 2 threads, {args.connections} connections, {args.duration} "
        f"after a warm-up; `govern serve` and the ceiling: {args.workers} granian WSGI workers × "
        f"{args.threads} threads. Cerbos wrote {args.cerbos_audit_lines:,} audit log lines.",
        "",
        *table,
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in checks],
    ], args.results)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
