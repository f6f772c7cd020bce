"""The access log: one JSON line per request on standard output, with its request id (the
caller's X-Request-ID, or the decision id govern gave). Kept in the app rather than the server so
that the line can carry what only the app knows; both planes write the same line.

Each line is one write(2) of its own, not a `logging` call: through `logging` the access log cost
a fifth of govern's requests/s under load (its lock, record and flush per line), a bare write
half of that. A line of a few hundred bytes is written whole even with several workers.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import UTC, datetime

import orjson
from werkzeug.wrappers import Request, Response

STARTED = "govern.started"


def write_line(request: Request, response: Response, started: float) -> None:
    """The access-log line of `request`, answered with `response`, begun at `started`
    (time.perf_counter)."""
    line = orjson.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "request_id": response.headers.get("X-Request-ID") or request.headers.get("X-Request-ID"),
        "remote": request.remote_addr,
    })
    with contextlib.suppress(OSError, ValueError):  # no usable stdout: the answer matters more
        os.write(sys.stdout.fileno(), line + b"\n")
