"""Scale benchmark: access-check throughput, p99 and worker memory with many API keys and a big
decision log, each compared with the demo data alone. See bench/README.md.

    python bench/scale_bench.py [--keys 1000,100000,1000000] [--rows 10000000] [--duration 15s]
                                [--dir /tmp/govern-scale] [--results bench/RESULTS.md] [--keep]

The load is bench/run.sh's: wrk with govern.lua (the four demo keys) against `govern serve` with
run.sh's server settings. Prints the table and appends it to --results; exit status 1 when a check
fails or the benchmark cannot run (one line on stderr says why).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from decisions_bench import OrgKeys, add_decisions
from production import add_rate_limits, settings
from report import machine, publish, summary
from tqdm import tqdm

from govern.identity.tokens import key_digest, new_key

BENCH_DIR = Path(__file__).resolve().parent
DEMO_KEY_LINE = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+(gvk_\S+)\s*$", re.MULTILINE)
DURATION = re.compile(r"^\d+[smh]$")
KEYS_PER_ORG = 10
KEY_BATCH = 50_000
# The checks: within 20 % of the small case, and under 200 MB resident per worker.
MIN_THROUGHPUT = 0.8
MAX_P99 = 1.2
MAX_WORKER_RSS_MB = 200
# Disk use with every index, measured: 10 million decisions took 4.87 GB; 1 million keys with
# their 100,000 organisations 0.21 GB. About doubled for the index builds' sort files and the WAL.
DISK_BYTES_PER_ROW = 1_000
DISK_BYTES_PER_KEY = 500
READY_TIMEOUT = 120.0  # server start-up and its workers' first connection to a big database
STOP_TIMEOUT = 30.0  # above the server's kill timeout for stopping workers (20 s)
PROBE = {"model": "open-7b", "capability": "generate"}
PRODUCTION = settings()  # one secret key for every instance and server of this run


class BenchError(Exception):
    """A reason the benchmark cannot run, said in one line."""


# -- data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instance:
    """A govern instance folder made by `govern init` and `govern demo`, and the demo keys."""

    folder: Path
    demo_keys: dict[str, str]  # tier -> key, in the policy's tier order

    @property
    def database(self) -> Path:
        return self.folder / "govern.db"

    def env(self) -> dict[str, str]:
        # run.sh's settings: production's and the instance folder, whatever this shell has set.
        return {**{name: value for name, value in os.environ.items() if not name.startswith("GOVERN_")},
                **PRODUCTION, "GOVERN_INSTANCE_PATH": str(self.folder)}

    def copy(self, folder: Path) -> Instance:
        shutil.copytree(self.folder, folder)
        return Instance(folder, self.demo_keys)


def govern_command() -> Path:
    beside = Path(sys.executable).parent / "govern"
    found = beside if beside.exists() else shutil.which("govern")
    if found is None:
        raise BenchError("the govern command is not installed for this Python (pip install -e .)")
    return Path(found)


def demo_instance(folder: Path) -> Instance:
    """`govern init`, `govern demo` and rate limits on every tier in `folder`, as bench/run.sh
    makes its instance."""
    instance = Instance(folder, {})
    for command in ("init", "demo"):
        done = subprocess.run([str(govern_command()), command], env=instance.env(), capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise BenchError(f"govern {command} failed: {last}")
    keys = {tier: key for _org, tier, key in DEMO_KEY_LINE.findall(done.stdout)}
    if not keys:
        raise BenchError("govern demo printed no demo keys")
    try:
        add_rate_limits(govern_command(), instance.env())
    except RuntimeError as error:
        raise BenchError(str(error)) from None
    return Instance(folder, keys)


def add_keys(conn: sqlite3.Connection, count: int, tiers: list[str],
             keys_per_org: int = KEYS_PER_ORG) -> dict[str, str]:
    """Add `count` client keys, `keys_per_org` to each new organisation, the organisations' tiers
    taken from `tiers` in turn. Each key is stored as issue_key stores one: its visible prefix and
    the digest of the whole key; the secrets are then forgotten, except one key of each tier, which
    is returned (tier -> key) to show that the added keys authenticate. No audit events: this is
    test data, not an administrator's action."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    first_org = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM organisation").fetchone()[0]
    taken = {prefix for (prefix,) in conn.execute("SELECT prefix FROM api_key")}
    samples: dict[str, str] = {}
    made = 0
    with tqdm(total=count, desc="API keys", unit=" keys", unit_scale=True) as bar:
        while made < count:
            batch = min(KEY_BATCH, count - made)
            # Key number n belongs to organisation n // keys_per_org; a batch adds the
            # organisations whose first key it holds.
            new_orgs = range(-(-made // keys_per_org), -(-(made + batch) // keys_per_org))
            orgs = [(first_org + index, f"scale-{first_org + index}",
                     tiers[(first_org + index) % len(tiers)], False, now) for index in new_orgs]
            keys = []
            for number in range(made, made + batch):
                prefix, secret = new_key()
                while prefix in taken:  # 48-bit ids: a clash is rare at a million keys, not impossible
                    prefix, secret = new_key()
                taken.add(prefix)
                org_id = first_org + number // keys_per_org
                samples[tiers[org_id % len(tiers)]] = secret
                keys.append((prefix, key_digest(secret), "client", "scale bench", org_id, False, now))
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO organisation (id, name, tier, suspended, created_at) "
                             "VALUES (?, ?, ?, ?, ?)", orgs)
            conn.executemany("INSERT INTO api_key (prefix, digest, kind, name, org_id, suspended, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", keys)
            conn.execute("COMMIT")
            made += batch
            bar.update(batch)
    for table in ("organisation", "api_key"):
        conn.execute(f"ANALYZE {table}")
    return samples


def organisations(conn: sqlite3.Connection) -> dict[int, OrgKeys]:
    """Every organisation with client keys, as add_decisions names them in decision rows."""
    orgs: dict[int, OrgKeys] = {}
    for org_id, tier, prefix in conn.execute(
            "SELECT organisation.id, organisation.tier, api_key.prefix FROM api_key "
            "JOIN organisation ON organisation.id = api_key.org_id ORDER BY api_key.id"):
        orgs.setdefault(org_id, OrgKeys(tier, [])).prefixes.append(prefix)
    return orgs


def connect(database: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(database, isolation_level=None))


# -- measuring --------------------------------------------------------------------------------------
class PeakRss:
    """The peak resident memory of each worker (each child of the server process), read from
    /proc every 0.25 s while in use. VmHWM is the kernel's own high-water mark, so a peak between
    two samples is not missed; re-listing the children each time catches a restarted worker."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.peak_kib: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(0.25):
                return

    def sample(self) -> None:
        try:
            children = Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split()
        except OSError:
            return
        for pid in map(int, children):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # exited between the two reads
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if found:
                self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), int(found.group(1)))


@dataclass
class Case:
    name: str
    file: str  # the name of its server log and wrk summaries, in the instance folder
    keys_added: int
    decision_rows: int
    run: dict[str, float] = field(default_factory=dict)
    worker_peak_mb: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def post_check(url: str, key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}/v1/check", data=json.dumps(PROBE).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Server:
    """`govern serve` with bench/run.sh's settings, stopped (process group and all) on exit."""

    def __init__(self, instance: Instance, args: argparse.Namespace, log: Path) -> None:
        self.url = ""
        self._start = (instance, args, log)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        instance, args, log = self._start
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(govern_command()), "serve", "--port", str(port), "--workers", str(args.workers),
                 "--threads", str(args.threads)],
                env=instance.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            ready = self._ready()
        except BaseException:  # Ctrl-C while waiting: the server must not outlive the bench
            self.stop()
            raise
        if not ready:
            self.stop()
            lines = log.read_text(errors="replace").strip().splitlines()
            # govern's own one-line error, when it got as far as saying one
            said = next((line for line in reversed(lines) if line.lower().startswith("error:")),
                        lines[-1] if lines else "no output")
            raise BenchError(f"govern serve did not start: {said} (log: {log}, kept with --keep)")
        return self

    def _ready(self) -> bool:
        """Poll GET /readyz until 200 (True), or the server exits or time runs out (False)."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with suppress(ProcessLookupError):  # no worker may outlive its master
            os.killpg(self.process.pid, signal.SIGKILL)


def wrk(url: str, seconds: str, instance: Instance, args: argparse.Namespace, out: Path) -> None:
    env = {**os.environ, "BENCH_DIR": str(BENCH_DIR), "WRK_SUMMARY": str(out),
           "GOVERN_BENCH_KEYS": ",".join(instance.demo_keys.values())}
    done = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}", "-s",
                           str(BENCH_DIR / "govern.lua"), url], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0 or not out.exists():
        raise BenchError(f"wrk failed: {(done.stderr.strip() or 'no summary written').splitlines()[-1]}")


def measure(case: Case, instance: Instance, samples: dict[str, str], args: argparse.Namespace) -> None:
    """Serve `instance`, check that one added key of each tier authenticates, warm up, then run
    the measured load while sampling the workers' memory."""
    work = instance.folder
    print(f"{case.name}: {case.keys_added:,} keys added, {case.decision_rows:,} decision rows; "
          f"{args.workers} workers x {args.threads} threads, {args.connections} connections, "
          f"{args.duration}", file=sys.stderr, flush=True)
    with Server(instance, args, work / f"{case.file}.log") as server:
        assert server.process is not None
        for tier, key in samples.items():
            status, body = post_check(server.url, key)
            if status != 200 or body.get("tier") != tier:
                raise BenchError(f"an added {tier} key was not accepted: HTTP {status} {body}")
        with PeakRss(server.process.pid) as rss:
            wrk(server.url, args.warmup, instance, args, work / f"{case.file}.warmup.json")
            wrk(server.url, args.duration, instance, args, work / f"{case.file}.json")
    case.run = summary(work / f"{case.file}.json")
    case.worker_peak_mb = [kib * 1024 / 1e6 for _pid, kib in sorted(rss.peak_kib.items())]


def decision_count(database: Path) -> int:
    with connect(database) as conn:
        count: int = conn.execute("SELECT count(*) FROM decision").fetchone()[0]
    return count


# -- report -----------------------------------------------------------------------------------------
def verdict(ok: bool, figure: str) -> str:
    return f"{'PASS' if ok else 'FAIL'} ({figure})"


def report(cases: list[Case], args: argparse.Namespace, load: float) -> bool:
    """Print the table and append it to --results; True when every check passed."""
    small = cases[0].run
    table = ["| case | keys added | decision rows | requests/s | p50 ms | p99 ms | non-2xx "
             "| worker peak RSS MB | requests/s ≥ 0.8× small | p99 ≤ 1.2× small | every worker < 200 MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    passed = True
    for case in cases:
        run = case.run
        errors = int(run["non_2xx"] + run["socket_errors"])
        checks = [
            (run["rps"] >= MIN_THROUGHPUT * small["rps"], f"{run['rps'] / small['rps']:.2f}×"),
            (run["p99_us"] <= MAX_P99 * small["p99_us"], f"{run['p99_us'] / small['p99_us']:.2f}×"),
            (bool(case.worker_peak_mb) and max(case.worker_peak_mb) < MAX_WORKER_RSS_MB,
             f"{max(case.worker_peak_mb, default=0):.0f} MB"),
        ]
        # A run with errors measured something else than answers, whatever its speed.
        passed = passed and errors == 0 and all(ok for ok, _ in checks)
        table.append(
            f"| {case.name} | {case.keys_added:,} | {case.decision_rows:,} | {run['rps']:,.0f} "
            f"| {run['p50_us'] / 1000:.2f} | {run['p99_us'] / 1000:.2f} | {errors} "
            f"| {', '.join(f'{mb:.0f}' for mb in case.worker_peak_mb)} | "
            + " | ".join(verdict(ok, figure) for ok, figure in checks) + " |")
    publish([
        f"Scale: access checks with many keys and a big decision log (`bench/scale_bench.py`). "
        f"Machine: {machine()}, SQLite {sqlite3.sqlite_version}, load average {load:.2f} at the "
        f"start. Load: wrk with govern.lua (the four demo keys), "
        f"2 threads, {args.connections} connections, {args.duration} after a {args.warmup} warm-up; "
        f"`govern serve`: {args.workers} granian WSGI workers × {args.threads} threads, SQLite, "
        f"production settings as in bench/run.sh (rate limits on every tier, the access log on). "
        f"Every case holds the demo data; the others add the keys ({KEYS_PER_ORG} per organisation, "
        f"tiers in turn) and {args.rows:,} decisions spread over the past year. Worker RSS is each "
        f"worker's peak (VmHWM) during the run; MB = 10⁶ bytes.",
        "",
        *table,
        "",
        f"- {'PASS' if passed else 'FAIL'}: every case within 20 % of the small case in requests/s "
        "and p99, every worker under 200 MB, no non-2xx",
    ], args.results)
    return passed


# -- driver -----------------------------------------------------------------------------------------
def key_counts(text: str) -> list[int]:
    return sorted({positive(part) for part in text.split(",")})


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def duration(text: str) -> str:
    if not DURATION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 15s, 2m or 1h")
    return text


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=key_counts, default=key_counts("1000,100000,1000000"),
                        help="API key counts, one case each (default 1000,100000,1000000)")
    parser.add_argument("--rows", type=positive, default=10_000_000, help="decision rows (default 10000000)")
    parser.add_argument("--duration", type=duration, default="15s", help="measured run (default 15s)")
    parser.add_argument("--warmup", type=duration, default="3s", help="warm-up before it (default 3s)")
    parser.add_argument("--connections", type=positive, default=16, help="wrk connections (default 16)")
    parser.add_argument("--workers", type=positive, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    parser.add_argument("--threads", type=positive, default=8, help="threads per worker (default 8)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/govern-scale"),
                        help="where the databases go (several GB at full size)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "RESULTS.md",
                        help="markdown file the table is appended to (default bench/RESULTS.md)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    return parser.parse_args(argv)


def preflight(args: argparse.Namespace) -> None:
    """What can be found wrong before anything is made."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (apt-get install wrk; bench/run.sh installs it too)")
    govern_command()
    if any(folder.exists() for folder in case_folders(args)):
        raise BenchError(f"{args.dir} already holds a run; remove it or choose another --dir")
    args.dir.mkdir(parents=True, exist_ok=True)
    needed = args.rows * DISK_BYTES_PER_ROW + args.keys[-1] * DISK_BYTES_PER_KEY
    free = shutil.disk_usage(args.dir).free
    if free < needed:
        raise BenchError(f"{args.dir} has {free / 1e9:.1f} GB free; this run needs about "
                         f"{needed / 1e9:.1f} GB")


def case_folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """The instance with the demo data alone, and the one that grows."""
    return args.dir / "small", args.dir / "large"


def bench(args: argparse.Namespace) -> bool:
    load = os.getloadavg()[0]
    small_dir, large_dir = case_folders(args)
    small = demo_instance(small_dir)
    large = small.copy(large_dir)
    cases = [Case("small", "small", 0, decision_count(small.database))]
    measure(cases[0], small, {}, args)

    tiers = list(small.demo_keys)
    added = 0
    for count in args.keys:
        with connect(large.database) as conn:
            samples = add_keys(conn, count - added, tiers)
            added = count
            if len(cases) == 1:  # the decision log is filled once, naming the first case's keys
                add_decisions(conn, args.rows, organisations(conn),
                              start=datetime.now(UTC) - timedelta(days=365), days=365)
        cases.append(Case(f"{count:,} keys", f"keys-{count}", count, decision_count(large.database)))
        measure(cases[-1], large, samples, args)
    return report(cases, args, load)


def disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        preflight(args)
    except BenchError as error:
        print(f"scale_bench: {error}", file=sys.stderr)
        return 1
    try:
        return 0 if bench(args) else 1
    except BenchError as error:
        message = str(error)
    except (OSError, sqlite3.OperationalError) as error:
        if not disk_full(error):
            raise
        message = f"the disk under {args.dir} is full: {error}"
    finally:
        if not args.keep:
            for folder in case_folders(args):
                shutil.rmtree(folder, ignore_errors=True)
    print(f"scale_bench: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
