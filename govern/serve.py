"""`govern serve`: granian with one WSGI app per worker process and a pool of threads in each.

granian, not gunicorn: on the 2-core benchmark machine it served the same govern about 1.4× as fast
and the constant-answer reference app 2–4× as fast (docs/operations.md has the figures). Threads
matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from govern.errors import ConfigError

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# A stopping worker finishes the requests it holds (each waits at most for its decision-log commit)
# before it is killed; a worker that dies is replaced.
KILL_TIMEOUT = 20
RESPAWN_INTERVAL = 0.5


def serve(target: str, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve the WSGI app `target` ("module:factory"), built once in each worker process."""
    Granian(
        target, address=host, port=port, interface=Interfaces.WSGI, factory=True,
        workers=workers, blocking_threads=threads, websockets=False,
        respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL,
        workers_kill_timeout=KILL_TIMEOUT, log_level=LogLevels.info,
    ).serve()


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
