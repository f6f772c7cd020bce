"""The JSON API: decision endpoints, admin API, decision log, operations. Layer: web."""

from __future__ import annotations

import os
import threading
from multiprocessing.util import Finalize

from flask import Flask, current_app

from govern.audit.checkpoints import checkpointer
from govern.config import Settings
from govern.decisions.runtime import Runtime
from govern.extensions import csrf, db
from govern.gateway.routes import load_routes
from govern.resources import resource_dir


class RuntimeHolder:
    """One Runtime per process, made on first use: a server forks its workers after create_app,
    and threads or database connections must not cross a fork."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._runtime: Runtime | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        runtime = self._runtime
        if runtime is not None and self._pid == os.getpid():
            return runtime
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                runtime = Runtime(
                    db.engine,
                    refresh_interval=self._settings.refresh_interval,
                    log_queue_size=self._settings.decision_log_queue_size,
                    log_timeout=self._settings.decision_log_timeout,
                    ratelimit_storage=self._settings.ratelimit_storage,
                    log_in_process=self._settings.decision_log_writer == "process",
                    checkpoints=checkpointer(db.engine, self._settings),
                    unauthenticated_rows_per_minute=self._settings.unauthenticated_rows_per_minute,
                )
                runtime.start()
                # Run at exit in any process: a server's worker processes end through
                # multiprocessing, which skips atexit but runs these finalizers.
                Finalize(runtime, runtime.stop, exitpriority=10)
                self._runtime, self._pid = runtime, os.getpid()
            return self._runtime

    def stop(self) -> None:
        if self._runtime is not None and self._pid == os.getpid():
            self._runtime.stop()
            self._runtime = None


def runtime() -> Runtime:
    holder: RuntimeHolder = current_app.extensions["govern.runtime"]
    return holder.get()


def register_api(app: Flask, settings: Settings) -> None:
    from govern.api import (
        access_log,
        admin_identity,
        admin_policy,
        admin_principals,
        admin_proposals,
        admin_users,
        auth,
        authorize,
        authzen,
        check,
        decisions,
        exports,
        model_list,
        openapi,
        ops,
        problems,
    )

    app.extensions["govern.runtime"] = RuntimeHolder(settings)
    app.extensions["govern.routes"] = load_routes(settings.routes_file
                                                  or resource_dir("policies") / "routes.yaml")
    for module in (check, decisions, exports, ops, admin_policy, admin_principals, admin_identity,
                   admin_proposals, admin_users, authorize, authzen, model_list, openapi):
        csrf.exempt(module.bp)  # token-authenticated; session callers are checked in auth
        app.register_blueprint(module.bp)
    problems.register(app)
    auth.register(app)
    if settings.access_log:
        access_log.register(app)
