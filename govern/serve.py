"""`govern serve`: gunicorn with threaded workers, one app per worker process.

Threads matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from govern.decisions import metrics


class WsgiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running the app that `load_app` builds, once in each worker after the fork."""

    def __init__(self, load_app: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load_app = load_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load_app()


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """One JSON line per request, with the request id the caller sent or govern gave."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        headers = dict(resp.headers)
        self.access_log.info(json.dumps({
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": resp.status_code,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "request_id": headers.get("X-Request-ID") or environ.get("HTTP_X_REQUEST_ID"),
            "remote": environ.get("REMOTE_ADDR"),
        }))


def _worker_gone(server: Any, worker: Any) -> None:
    metrics.forget_process(worker.pid)


def server_options(*, host: str, port: int, workers: int, threads: int,
                   access_log: bool = False) -> dict[str, Any]:
    """The production settings; bench/ serves its reference app with exactly these too."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "graceful_timeout": 20,
        "timeout": 60,
        "keepalive": 5,
        "accesslog": "-" if access_log else None,
        "logger_class": JsonAccessLogger,
        "child_exit": _worker_gone,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "govern",
        "control_socket_disable": True,
    }


def _govern_app() -> Any:
    # Imported here so each worker builds its own app (and database engine) after the fork.
    from govern import create_app

    return create_app()


def serve(*, host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    options = server_options(host=host, port=port, workers=workers, threads=threads,
                             access_log=access_log)
    WsgiServer(_govern_app, options).run()
