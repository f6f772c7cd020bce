"""The access log: one JSON line per request on standard output, with its request id (the
caller's X-Request-ID, or the decision id govern gave). Kept in the app rather than the server so
that the line can carry what only the app knows."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime

import orjson
from flask import Flask, request
from werkzeug.wrappers import Response

STARTED = "govern.started"

log = logging.getLogger("govern.access")


def register(app: Flask) -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    @app.before_request
    def start_clock() -> None:
        request.environ[STARTED] = time.perf_counter()

    @app.after_request
    def write_line(response: Response) -> Response:
        started = request.environ.get(STARTED, time.perf_counter())
        log.info(orjson.dumps({
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": response.headers.get("X-Request-ID") or request.headers.get("X-Request-ID"),
            "remote": request.remote_addr,
        }).decode())
        return response
