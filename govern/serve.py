"""`govern serve`: granian with one WSGI app per worker process and a pool of threads in each.

granian, not gunicorn: on the 2-core benchmark machine it served the same govern 1.6× as fast and
the constant-answer reference app twice as fast (docs/operations.md has the figures). Threads
matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.
"""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

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
