"""Decision-log benchmark: 10 million decisions in a SQLite file, then explorer page times, export
speed and peak memory, and purge batch times. See bench/README.md.

    python bench/decisions_bench.py [--rows 10000000] [--dir /tmp/govern-bench] [--keep]

Each measurement runs in its own process, so its peak RSS (getrusage ru_maxrss) is its own.
Prints a JSON report on stdout (and progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

DAY_US = 86_400 * 1_000_000
START = datetime(2030, 1, 1, tzinfo=UTC)
SPAN_DAYS = 365
FILL_BATCH = 200_000
MODELS = ["open-7b", "chat-standard", "frontier-1", "research-preview", "open-13b", "chat-large"]
CAPABILITIES = ["generate", "generate", "generate", "tools", "fine_tune"]
TIERS = ["free", "free", "verified", "verified", "trusted", "internal"]
REASONS_DENY = ["tier_too_low", "tier_too_low", "not_granted", "unknown_model", "key_unknown"]
ORGS = 500


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def environment(folder: Path) -> dict[str, str]:
    return {**os.environ, "GOVERN_ENV": "testing", "GOVERN_INSTANCE_PATH": str(folder),
            "GOVERN_DATABASE_URL": f"sqlite:///{folder / 'govern.db'}",
            "GOVERN_SECRET_KEY": "bench-secret-" + "b" * 40}


def app_for(folder: Path) -> Any:
    from govern import create_app

    return create_app(environment(folder))


# -- fill -----------------------------------------------------------------------------------------
# The columns a filled row sets, named so that a column added by a later migration (nullable, as
# pep_prefix, issuer and subject were) is left NULL instead of breaking the insert.
FILLED_COLUMNS = ("decision_id", "created_at", "request_id", "org_id", "key_prefix", "tier", "model",
                  "capability", "allow", "reason", "policy_version", "latency_us")
INSERT_DECISION = (f"INSERT INTO decision ({', '.join(FILLED_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(FILLED_COLUMNS))})")


@dataclass(frozen=True)
class OrgKeys:
    """An organisation as decision rows name it: its tier and the prefixes of its keys."""

    tier: str
    prefixes: list[str]


def add_decisions(conn: sqlite3.Connection, rows: int, orgs: dict[int, OrgKeys], *,
                  start: datetime = START, days: int = SPAN_DAYS,
                  rng: random.Random | None = None) -> float:
    """Insert `rows` decisions spread evenly over `days` days from `start` (85 % allow, deny reasons
    mixed, an organisation then one of its keys picked at random, ids made as govern makes them),
    in transactions of FILL_BATCH rows, into the migrated SQLite database behind `conn` (opened
    with isolation_level=None). The decision indexes are dropped first and built again afterwards,
    which is faster than inserting into them; then ANALYZE. Returns the seconds the inserts took."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND "
                           "tbl_name='decision' AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    rng = rng or random.Random(7)
    org_ids = sorted(orgs)
    step_us = days * DAY_US // rows
    base_us = int(start.timestamp()) * 1_000_000
    started = time.perf_counter()
    made = 0
    with tqdm(total=rows, desc="decision rows", unit=" rows", unit_scale=True) as bar:
        while made < rows:
            batch = []
            for number in range(made, min(made + FILL_BATCH, rows)):
                micros = base_us + number * step_us + rng.randrange(step_us or 1)
                org_id = rng.choice(org_ids)
                org = orgs[org_id]
                allow = rng.random() < 0.85
                stamp = datetime.fromtimestamp(micros / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                batch.append((f"{micros:014x}{rng.getrandbits(48):012x}", stamp, None, org_id,
                              rng.choice(org.prefixes), org.tier, rng.choice(MODELS),
                              rng.choice(CAPABILITIES), allow,
                              "granted_by_tier" if allow else rng.choice(REASONS_DENY), 2,
                              rng.randint(80, 900)))
            conn.execute("BEGIN")
            conn.executemany(INSERT_DECISION, batch)
            conn.execute("COMMIT")
            made += len(batch)
            bar.update(len(batch))
    inserted = time.perf_counter() - started
    for _name, sql in tqdm(indexes, desc="decision indexes", unit=" indexes"):
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return inserted


def fill(folder: Path, rows: int) -> dict[str, Any]:
    """Migrate an empty database and add `rows` decisions over the year 2030 from ORGS
    organisations with 1-3 made-up keys each."""
    from govern.cli import prepare_database
    from govern.extensions import db

    folder.mkdir(parents=True, exist_ok=True)
    app = app_for(folder)
    with app.app_context():
        prepare_database(app)
        db.engine.dispose()
    rng = random.Random(7)
    orgs = {org: OrgKeys(rng.choice(TIERS), [f"gvk_{org:06x}{k:06x}" for k in range(1 + org % 3)])
            for org in range(1, ORGS + 1)}
    started = time.perf_counter()
    conn = sqlite3.connect(folder / "govern.db", isolation_level=None)
    try:
        # The same generator that drew the tiers: the rows come out as they always have.
        inserted = add_decisions(conn, rows, orgs, rng=rng)
    finally:
        conn.close()
    return {"rows": rows, "insert_seconds": round(inserted, 1),
            "insert_and_index_seconds": round(time.perf_counter() - started, 1),
            "db_bytes": (folder / "govern.db").stat().st_size}


# -- explorer -------------------------------------------------------------------------------------
QUERIES: dict[str, dict[str, Any]] = {
    "no filter, first page": {},
    "model": {"model": "frontier-1"},
    "organisation": {"org_id": 42},
    "key prefix": {"key_prefix": "gvk_00002a000000"},
    "tier internal": {"tier": "internal"},
    "capability fine_tune": {"capability": "fine_tune"},
    "reason key_unknown": {"reason": "key_unknown"},
    "result deny": {"allow": False},
    "one day": {"since": START + timedelta(days=100), "until": START + timedelta(days=101)},
    "organisation in one week": {"org_id": 42, "since": START + timedelta(days=200),
                                 "until": START + timedelta(days=207)},
    "model + deny in one day": {"model": "frontier-1", "allow": False,
                                "since": START + timedelta(days=300), "until": START + timedelta(days=301)},
    "key prefix + reason": {"key_prefix": "gvk_00002a000000", "reason": "tier_too_low"},
}


def explore(folder: Path) -> dict[str, Any]:
    """Page times (50 rows) for typical filters: first page, and the 20th page by cursor."""
    from govern.decisions.query import DecisionFilter, list_decisions
    from govern.extensions import db

    results = {}
    with app_for(folder).app_context():
        session = db.session()
        for label, fields in QUERIES.items():
            where = DecisionFilter(**fields)
            times = []
            for _ in range(5):
                began = time.perf_counter()
                page, cursor = list_decisions(session, where, limit=50)
                times.append(time.perf_counter() - began)
            deep_began = time.perf_counter()
            for _ in range(19):
                if cursor is None:
                    break
                page, cursor = list_decisions(session, where, limit=50, cursor=cursor)
            deep = time.perf_counter() - deep_began
            results[label] = {"first_page_ms_median": round(statistics.median(times) * 1000, 2),
                              "first_page_ms_cold": round(times[0] * 1000, 2),
                              "pages_2_to_20_ms_each": round(deep * 1000 / 19, 2),
                              "rows_on_last_page": len(page)}
            log(f"explorer {label}: {results[label]}")
    return results


# -- export ---------------------------------------------------------------------------------------
def export(folder: Path, fmt: str, days: int | None) -> dict[str, Any]:
    """Stream an export (all rows, or the first `days` days) to /dev/null through the service."""
    from govern.audit.signing import signing_key
    from govern.decisions.export import export_decisions
    from govern.decisions.query import DecisionFilter
    from govern.extensions import db

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    where = DecisionFilter(until=START + timedelta(days=days)) if days else DecisionFilter()
    with app_for(folder).app_context(), open(os.devnull, "wb") as sink:
        began = time.perf_counter()
        running = export_decisions(db.session(), where, fmt=fmt, actor="bench",
                                   key=signing_key(folder, None))
        size = 0
        for chunk in running.chunks:
            sink.write(chunk)
            size += len(chunk)
        seconds = time.perf_counter() - began
    assert running.manifest is not None
    return {"format": fmt, "rows": running.rows, "bytes": size, "seconds": round(seconds, 1),
            "rows_per_second": round(running.rows / seconds), "peak_rss_mib_before": rss_before // 1024,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


# -- purge ----------------------------------------------------------------------------------------
def purge(folder: Path, days: int) -> dict[str, Any]:
    """Purge the oldest `days` days; report the longest single batch (the writer's worst wait)."""
    from sqlalchemy import event

    from govern.decisions.retention import purge_decisions
    from govern.extensions import db

    commits: list[float] = []
    with app_for(folder).app_context():
        last = [time.perf_counter()]
        event.listen(db.engine, "commit", lambda _conn: (commits.append(time.perf_counter() - last[0]),
                                                          last.__setitem__(0, time.perf_counter())))
        began = time.perf_counter()
        report = purge_decisions(db.session(), before=START + timedelta(days=days), actor="bench")
        seconds = time.perf_counter() - began
    return {"days": days, "rows": report.rows, "seconds": round(seconds, 1),
            "rows_per_second": round(report.rows / seconds) if seconds else None,
            "longest_batch_ms": round(max(commits) * 1000, 1) if commits else None}


# -- driver ---------------------------------------------------------------------------------------
def child(*args: str) -> Any:
    result = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(result.stdout)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "system": platform.platform(), "load_average_at_start": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", nargs="?", default="all",
                        choices=["all", "fill", "explore", "export", "purge"])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/govern-bench"))
    parser.add_argument("--format", default="jsonl")
    parser.add_argument("--days", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.phase == "fill":
        print(json.dumps(fill(args.dir, args.rows)))
    elif args.phase == "explore":
        print(json.dumps(explore(args.dir)))
    elif args.phase == "export":
        print(json.dumps(export(args.dir, args.format, args.days or None)))
    elif args.phase == "purge":
        print(json.dumps(purge(args.dir, args.days or 1)))
    else:
        if (args.dir / "govern.db").exists():
            raise SystemExit(f"{args.dir} already holds a database; remove it or choose --dir")
        report: dict[str, Any] = {"machine": machine(), "fill": child("fill", "--rows", str(args.rows),
                                                                      "--dir", str(args.dir))}
        report["explorer"] = child("explore", "--dir", str(args.dir))
        report["exports"] = []
        for fmt, days in (("jsonl", 3), ("jsonl", 36), ("csv", 36), ("jsonl", 0)):
            log(f"export {fmt} {'all' if not days else f'{days} days'}")
            report["exports"].append(child("export", "--dir", str(args.dir), "--format", fmt,
                                           "--days", str(days)))
            log(str(report["exports"][-1]))
        report["purge"] = child("purge", "--dir", str(args.dir), "--days", "7")
        print(json.dumps(report, indent=2))
        if not args.keep:
            for name in ("govern.db", "govern.db-wal", "govern.db-shm"):
                (args.dir / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
