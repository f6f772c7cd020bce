"""`govern serve`: gunicorn with threaded workers, one app per worker process.

Threads matter beyond concurrency: the decision log commits whatever requests have queued in one
transaction, so several requests in flight per process share each commit.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from govern.config import Settings


class GovernServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Imported here so each worker builds its own app (and database engine) after the fork.
        from govern import create_app

        return create_app()


def serve(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    GovernServer(settings, {
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
    }).run()
