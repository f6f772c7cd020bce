"""`govern serve`: granian with one WSGI app per worker process and a pool of threads in each.

granian, not gunicorn: on the 2-core benchmark machine it served the same govern about 1.4× as fast
and the constant-answer reference app 2–4× as fast (docs/operations.md has the figures). Threads
matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.

Supervision, where granian stops short of a supervisor's: granian gives up and exits when one
worker slot dies twice within 5.5 s ("Worker crash loop detected"); `serve` starts it again, after
a pause that doubles while it keeps failing. And a worker ends when the process that started it
ends (SIGKILLed, say), instead of serving on as an orphan that keeps the port. Something must still
restart `govern serve` itself when it is killed: deploy/govern.service, docs/operations.md.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from govern.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from flask import Flask

    from govern.config import Settings

log = logging.getLogger(__name__)

# A stopping worker finishes the requests it holds (each waits at most for its decision-log commit)
# before it is killed; a worker that dies is replaced.
KILL_TIMEOUT = 20
RESPAWN_INTERVAL = 0.5
# The pause before granian is started again after it gave up: doubled after each quick failure,
# back to the first after a run of STABLE_RUN seconds.
FIRST_PAUSE = 1.0
LAST_PAUSE = 30.0
STABLE_RUN = 60.0


def _not_the_thread_count_warning(record: logging.LogRecord) -> bool:
    """granian warns when a worker has more threads than 2 × cores + 1, a rule for handlers that
    compute. A decision's thread mostly waits for the machine writer's commit, and more of them in
    flight share each commit, so govern's default of 8 is meant: say nothing about it."""
    return "Python threads, which seems quite high" not in record.getMessage()
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def serve(target: str, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve the WSGI app `target` ("module:factory"), built once in each worker process, until
    SIGTERM or SIGINT. A worker that dies is replaced; when granian gives up on a slot whose workers
    keep dying and exits, it is started again after a pause (a SIGTERM in the pause ends it)."""
    stop = threading.Event()
    pause = FIRST_PAUSE
    while True:
        server = Granian(
            target, address=host, port=port, interface=Interfaces.WSGI,
            workers=workers, blocking_threads=threads, websockets=False,
            respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL,
            workers_kill_timeout=KILL_TIMEOUT, log_level=LogLevels.info,
        )
        logging.getLogger("_granian").addFilter(_not_the_thread_count_warning)
        server.on_startup(partial(_pass_on_a_stop, stop))
        began = time.monotonic()
        try:
            server.serve(target_loader=_build_app)
            return
        except SystemExit:
            if server.interrupt_signal:  # stopped as asked, with a worker that died meanwhile
                raise
        if time.monotonic() - began >= STABLE_RUN:
            pause = FIRST_PAUSE
        log.error("granian exited after a worker kept dying; starting it again in %.0f s", pause)
        if _stopped_within(pause, stop):
            return
        pause = min(2 * pause, LAST_PAUSE)


@contextmanager
def machine_writer(settings: Settings) -> Iterator[None]:
    """While the block runs, the machine's decision-log writer process, which every worker started
    in it commits through (govern.decisions.log_writer); none when commits run in each worker."""
    if settings.decision_log_writer != "process":
        yield
        return
    from govern.decisions.log_writer import SOCKET_ENV, WriterProcess

    writer = WriterProcess(settings.database_url)
    writer.start()
    os.environ[SOCKET_ENV] = writer.socket_path  # the workers inherit it
    try:
        yield
    finally:
        os.environ.pop(SOCKET_ENV, None)
        writer.close(timeout=KILL_TIMEOUT)


@contextmanager
def notification_dispatcher() -> Iterator[None]:
    """While the block runs, the machine's notification dispatcher (`govern notify run`), started
    again whenever it dies. One per machine: it holds no request, and its leases let the
    dispatchers of other nodes run beside it."""
    closing = threading.Event()
    command = [sys.executable, "-P", "-m", "govern.cli", "notify", "run"]

    # It answers no requests: none of the workers' metrics may name it.
    env = {name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env, preexec_fn=_end_with_parent)

    child = start()

    def supervise() -> None:
        nonlocal child
        while True:
            child.wait()
            if closing.wait(FIRST_PAUSE):
                return
            log.error("the notification dispatcher exited (%s); starting another", child.returncode)
            child = start()

    supervisor = threading.Thread(target=supervise, name="govern-notify", daemon=True)
    supervisor.start()
    try:
        yield
    finally:
        closing.set()
        child.terminate()
        try:
            child.wait(KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        supervisor.join(KILL_TIMEOUT)


def _end_with_parent() -> None:
    """In a child about to run: have Linux send it SIGTERM when `govern serve` ends, however."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _build_app(target: str) -> Callable[..., Any]:
    """In each worker, the app of `target` ("module:factory"), once the worker is set to end with
    its main process: so does any worker, whichever app it serves."""
    end_with_main_process()
    module, _, factory = target.partition(":")
    app: Callable[..., Any] = getattr(importlib.import_module(module), factory)()
    return app


def _pass_on_a_stop(stop: threading.Event) -> None:
    """Run once granian has set its signal handlers: a SIGTERM caught by ours just before is not lost."""
    if stop.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


def _stopped_within(seconds: float, stop: threading.Event) -> bool:
    """Wait `seconds`; True as soon as SIGTERM or SIGINT arrives (granian's handlers still in place
    would tell only the server that has finished)."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _number, _frame: stop.set())
    return stop.wait(seconds)


def end_with_main_process() -> None:
    """In a worker: have Linux send it SIGTERM, which granian takes as "stop gracefully", when the
    process that started it ends. Elsewhere a supervisor must stop the whole process group."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    # Forked, a worker inherits the main process's SIGTERM handler, which would swallow the signal
    # until granian sets the worker's own: until then a SIGTERM ends it (it serves nothing yet).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("this worker will not end with its main process: prctl failed (errno %d)",
                    ctypes.get_errno())
    elif os.getppid() != parent.pid:  # the main process ended before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def refuse_a_taken_port(host: str, port: int) -> None:
    """On Linux granian's workers bind with SO_REUSEPORT, so a second server on a port already in
    use would start and quietly take half of its connections; refuse, as other servers do."""
    family, kind, _proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind(address)
        except OSError as error:
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def worker_app(decisions_only: bool = False) -> Flask:
    """The app of one worker, with its runtime (policy snapshot, decision-log writer process)
    started before the first request, which would otherwise wait a few hundred milliseconds for it.
    If it cannot start yet (the database is away, say), the first request tries again."""
    from govern import create_app

    app = create_app(decisions_only=decisions_only)
    try:
        with app.app_context():
            app.extensions["govern.runtime"].get()
    except Exception:  # answered per request, as 503s, until it can start
        log.exception("the runtime did not start with the worker; the first request tries again")
    return app


def decision_worker_app() -> Flask:
    """The app of one worker of a decision-only node: the decision endpoints and operations."""
    return worker_app(decisions_only=True)
