"""`govern serve`: gunicorn with threaded workers, one app per worker process.

Threads matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication


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


def server_options(*, host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The production settings; bench/ serves its reference app with exactly these too."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "graceful_timeout": 20,
        "timeout": 60,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "govern",
        "control_socket_disable": True,
    }


def _govern_app() -> Any:
    # Imported here so each worker builds its own app (and database engine) after the fork.
    from govern import create_app

    return create_app()


def serve(*, host: str, port: int, workers: int, threads: int) -> None:
    WsgiServer(_govern_app, server_options(host=host, port=port, workers=workers, threads=threads)).run()
