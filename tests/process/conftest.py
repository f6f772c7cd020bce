"""Fixtures for tests that run govern as real processes: the `govern` command in a subprocess and
`govern serve` (granian, several workers) on a free port of 127.0.0.1.

The demo instance (`govern init` + `govern demo`, run once per session through the real command)
is copied for each test, so every test starts from the same database and the same keys. Servers are
always stopped by the fixture's finalizer: SIGTERM, then SIGKILL of their process group.

Test modules reach these helpers through fixtures only: `from conftest import ...` picks whichever
conftest pytest loaded last, which depends on the command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from databases import copy_database, empty_database, query
from gateways import gateway, upstream  # noqa: F401 (fixtures of the gateway tests)

# The console script installed next to the interpreter running the tests.
GOVERN = Path(sys.executable).parent / "govern"
SECRET = "process-test-secret-" + "y" * 40

READY_TIMEOUT = 30.0  # start-up of the server and its workers on a busy 2-core machine
STOP_TIMEOUT = 25.0  # above the server's kill timeout for stopping workers (20 s)
CLI_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0

KEY_LINE = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+(gvk_\S+)\s*$", re.MULTILINE)
ADMIN_KEY_LINE = re.compile(r"^\s+API key:\s+(gvk_\S+)\s*$", re.MULTILINE)


def process_environment(instance: Path, **overrides: str) -> dict[str, str]:
    """The environment of a govern subprocess: this one's, less any GOVERN_* setting, plus the
    test instance's (the same settings as tests/conftest.py's `environment`)."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("GOVERN_")}
    return {
        **base,
        "GOVERN_ENV": "testing",
        "GOVERN_INSTANCE_PATH": str(instance),
        "GOVERN_DATABASE_URL": f"sqlite:///{instance / 'govern.db'}",
        "GOVERN_SECRET_KEY": SECRET,
        "GOVERN_REFRESH_INTERVAL": "0.05",
        **overrides,
    }


def run_govern(env: dict[str, str], *args: str, cwd: Path | None = None,
               executable: Path = GOVERN, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `govern ARGS` to completion; with `check`, fail the test showing its output if it
    exits non-zero."""
    result = subprocess.run([str(executable), *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=CLI_TIMEOUT, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"govern {' '.join(args)} exited {result.returncode}\n"
                    f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def parse_admin_key(init_output: str) -> str:
    match = ADMIN_KEY_LINE.search(init_output)
    assert match is not None, f"`govern init` printed no admin API key:\n{init_output}"
    return match.group(1)


def parse_demo_keys(demo_output: str) -> dict[str, str]:
    """tier -> key, from what `govern demo` prints."""
    keys = {tier: key for _org, tier, key in KEY_LINE.findall(demo_output)}
    assert set(keys) == {"free", "verified", "trusted", "internal"}, demo_output
    return keys


class GovernCommand:
    """The `govern` command as a user runs it: `environment`, `run` and `demo_keys`."""

    executable = GOVERN
    environment = staticmethod(process_environment)
    run = staticmethod(run_govern)
    demo_keys = staticmethod(parse_demo_keys)


@pytest.fixture(scope="session")
def govern_command() -> GovernCommand:
    return GovernCommand()


# -- the demo instance -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoTemplate:
    folder: Path
    database_url: str
    admin_key: str
    keys: dict[str, str]


@dataclass(frozen=True)
class DemoInstance:
    """A copy of the demo instance for one test: its folder, database, keys."""

    folder: Path
    database_url: str
    admin_key: str
    keys: dict[str, str]

    @property
    def database(self) -> Path:
        """The SQLite file (for tests marked sqlite_only)."""
        return self.folder / "govern.db"

    def env(self, **overrides: str) -> dict[str, str]:
        return process_environment(self.folder, GOVERN_DATABASE_URL=self.database_url, **overrides)

    def govern(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_govern(self.env(), *args, cwd=self.folder.parent, check=check)

    def decision_ids(self, ids: Iterable[str] | None = None) -> set[str]:
        """Decision ids stored in the log (only those among `ids`, when given)."""
        stored = {str(row[0]) for row in query(self.database_url, "SELECT decision_id FROM decision")}
        return stored if ids is None else stored & set(ids)

    def edit_policy(self, edit: Callable[[dict[str, Any]], None]) -> subprocess.CompletedProcess[str]:
        """The live policy changed as a user would: `govern policy export`, edit the YAML, import."""
        folder = self.folder.parent / "policy-edit"
        self.govern("policy", "export", str(folder))
        document = yaml.safe_load((folder / "policy.yaml").read_text())
        edit(document)
        (folder / "policy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        return self.govern("policy", "import", str(folder))

    def decision_count(self) -> int:
        return int(query(self.database_url, "SELECT count(*) FROM decision")[0][0])  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplate:
    """`govern init` then `govern demo` in an empty folder, through the real command, once."""
    root = tmp_path_factory.mktemp("demo-template")
    folder = root / "instance"
    url = empty_database(folder)
    env = process_environment(folder, GOVERN_DATABASE_URL=url)
    admin_key = parse_admin_key(run_govern(env, "init", cwd=root).stdout)
    keys = parse_demo_keys(run_govern(env, "demo", cwd=root).stdout)
    return DemoTemplate(folder, url, admin_key, keys)


def copy_demo(template: DemoTemplate, root: Path) -> DemoInstance:
    """A copy of the demo instance in `root / "instance"`."""
    folder = root / "instance"
    # The instance folder (secret key, SQLite file) and then the database, which on SQLite is that
    # file again: every connection of the CLI has closed, so it is one file with no -wal beside it.
    shutil.copytree(template.folder, folder)
    url = copy_database(template.database_url, folder)
    return DemoInstance(folder, url, template.admin_key, dict(template.keys))


@pytest.fixture
def demo_instance(tmp_path: Path, demo_template: DemoTemplate) -> DemoInstance:
    return copy_demo(demo_template, tmp_path)


# -- live servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def child_pids(pid: int) -> set[int]:
    """Processes whose parent is `pid` (the workers, for the server process)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows the state.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            children.add(int(entry.name))
    return children


def _runs(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # it has just exited


def is_log_writer(pid: int) -> bool:
    return _runs(pid, b"govern.decisions.log_writer")


def is_dispatcher(pid: int) -> bool:
    """The notification dispatcher `govern serve` runs beside its workers."""
    return _runs(pid, b"govern.cli\0notify\0run")


@pytest.fixture(scope="session")
def port_finder() -> Callable[[], int]:
    """`port_finder()`: a free TCP port of 127.0.0.1, for the other servers a test starts."""
    return free_port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    workers: int
    _sessions: list[requests.Session] = field(default_factory=list)
    _pinned: dict[int, requests.Session] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def worker_pids(self) -> set[int]:
        """The worker processes, once all `workers` have booted (bounded wait)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            pids = {pid for pid in child_pids(self.process.pid)
                    if not is_log_writer(pid) and not is_dispatcher(pid)}
            if len(pids) == self.workers or time.monotonic() > deadline:
                assert len(pids) == self.workers, f"workers: {pids}\n{self.log()}"
                return pids
            time.sleep(0.05)

    def log_writers(self) -> dict[int, set[int]]:
        """The decision-log writer processes, by the process that runs them (the server process or
        a worker)."""
        return {pid: writers for pid in {self.process.pid, *self.worker_pids()}
                if (writers := set(filter(is_log_writer, child_pids(pid))))}

    def status_pid(self, session: requests.Session) -> int:
        pid: int = session.get(f"{self.url}/v1/status", timeout=HTTP_TIMEOUT).json()["pid"]
        return pid

    def _pin_every_worker(self) -> None:
        """Open keep-alive sessions until each worker has accepted one of them (bounded)."""
        wanted = self.worker_pids()

        def open_one(_: int) -> tuple[int, requests.Session]:
            session = requests.Session()
            self._sessions.append(session)
            return self.status_pid(session), session

        # New connections go to whichever worker wakes first; opening a batch at a time lets
        # every worker take some. A worker still booting takes none until it is up.
        deadline = time.monotonic() + READY_TIMEOUT
        with ThreadPoolExecutor(8) as pool:
            while time.monotonic() < deadline:
                for pid, session in pool.map(open_one, range(8)):
                    if pid in wanted and pid not in self._pinned:
                        self._pinned[pid] = session
                    else:
                        session.close()
                if set(self._pinned) >= wanted:
                    return
                time.sleep(0.05)
        pytest.fail(f"reached workers {set(self._pinned)} of {wanted}\n{self.log()}")

    def on_worker(self, pid: int,
                  send: Callable[[requests.Session], requests.Response]) -> requests.Response:
        """`send` over a connection of worker `pid`, and its response. A /v1/status call before
        and after, on the same keep-alive session, proves which worker answered."""
        for _attempt in range(10):
            if pid not in self._pinned:
                self._pin_every_worker()
            session = self._pinned[pid]
            try:
                pinned = self.status_pid(session) == pid
            except requests.ConnectionError:  # the worker closed the idle connection first
                pinned = False
            if pinned:
                response = send(session)
                try:
                    if self.status_pid(session) == pid:
                        return response
                except requests.ConnectionError:
                    # The worker hung up after answering, as it does after refusing a request
                    # whose body it did not read: a refusal may be asked again, nothing else may.
                    if response.status_code < 400:
                        raise
            del self._pinned[pid]  # the connection was closed and made anew elsewhere
        pytest.fail(f"could not keep a connection to worker {pid}")

    def until_every_worker(self, send: Callable[[requests.Session], requests.Response],
                           accepted: Callable[[requests.Response], bool],
                           within: float) -> dict[int, requests.Response]:
        """Ask each worker with `send` until its response is `accepted`, for at most `within`
        seconds; the last response of each worker (check them with `accepted`)."""
        last: dict[int, requests.Response] = {}
        done: set[int] = set()
        workers = self.worker_pids()
        deadline = time.monotonic() + within
        while True:
            for pid in workers - done:
                last[pid] = self.on_worker(pid, send)
                if accepted(last[pid]):
                    done.add(pid)
            if done == workers or time.monotonic() > deadline:
                return last
            time.sleep(0.02)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM to the master, wait for a graceful exit, else SIGKILL its process group."""
        for session in self._sessions:
            session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # Workers are in the master's process group; none may outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def wait_ready(server: Server) -> bool:
    """Poll GET /readyz until 200 (True), the process exits or time runs out (False)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if requests.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return True
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still starting on a busy machine: ask again
        time.sleep(0.1)
    return False


def start_server(env: dict[str, str], log_path: Path, *, workers: int = 2,
                 executable: Path = GOVERN, cwd: Path | None = None,
                 extra_args: tuple[str, ...] = (), port: int | None = None) -> Server:
    """Start `govern serve` (on `port`, else a free one) and wait (bounded) until GET /readyz
    answers 200."""
    for _attempt in range(1 if port else 3):  # another process may take a free port first
        bound = port or free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(executable), "serve", "--host", "127.0.0.1", "--port", str(bound),
                 "--workers", str(workers), *extra_args],
                env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, f"http://127.0.0.1:{bound}", log_path, workers)
        ready = False
        try:
            ready = wait_ready(server)
        finally:
            if not ready:
                server.stop()
        if ready:
            return server
        if "Address already in use" not in server.log():
            break
    pytest.fail(f"govern serve did not become ready (exit {process.returncode}):\n{server.log()}")


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: `serve_process(env, workers=2, executable=GOVERN, cwd=None, extra_args=(),
    port=None)` starts `govern serve [extra_args]` and returns the ready Server; every server is
    stopped afterwards."""
    servers: list[Server] = []

    def start(env: dict[str, str], *, workers: int = 2, executable: Path = GOVERN,
              cwd: Path | None = None, extra_args: tuple[str, ...] = (),
              port: int | None = None) -> Server:
        log_path = tmp_path / f"serve-{len(servers)}.log"
        server = start_server(env, log_path, workers=workers, executable=executable,
                              cwd=cwd or tmp_path, extra_args=extra_args, port=port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(demo_instance: DemoInstance,
                serve_process: Callable[..., Server]) -> Callable[..., Server]:
    """Factory: `live_server(**GOVERN_overrides)` starts `govern serve --workers 2` on the demo
    instance and returns the Server (`.url` is its base URL); it is stopped after the test."""

    def start(*, workers: int = 2, **overrides: str) -> Server:
        return serve_process(demo_instance.env(**overrides), workers=workers)

    return start


@dataclass(frozen=True)
class SharedServer:
    """One `govern serve --workers 1` on its own copy of the demo instance, for a whole module."""

    server: Server
    demo: DemoInstance


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory,
                  demo_template: DemoTemplate) -> Iterator[SharedServer]:
    """For a module's checks that change nothing another test of it reads back (they may add
    decisions, each reading only its own): starting a server per test is most of their time.
    Tests that change state, stop the server or count across workers use `live_server`."""
    root = tmp_path_factory.mktemp("shared-server")
    demo = copy_demo(demo_template, root)
    server = start_server(demo.env(), root / "serve.log", workers=1, cwd=root)
    yield SharedServer(server, demo)
    server.stop()


# -- a Redis of one test ----------------------------------------------------------------------------
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_START_TIMEOUT = 10.0


@pytest.fixture
def redis_url(tmp_path: Path, port_finder: Callable[[], int]) -> Iterator[str]:
    """A redis-server of this test only, on a free port of 127.0.0.1, keeping nothing on disk."""
    port = port_finder()
    folder = tmp_path / "redis"
    folder.mkdir()
    process = subprocess.Popen(
        [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
