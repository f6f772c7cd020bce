"""The JSON API: the decision plane (govern.api.plane), the admin API, the decision log,
operations. Layer: web."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from functools import wraps
from multiprocessing.util import Finalize
from typing import TYPE_CHECKING

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import Engine
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

from govern.audit.checkpoints import checkpointer
from govern.config import Settings
from govern.decisions.log_writer import SOCKET_ENV as LOG_SOCKET_ENV
from govern.decisions.runtime import Runtime
from govern.extensions import csrf

if TYPE_CHECKING:
    from govern.api.plane import Plane


class RuntimeHolder:
    """One Runtime per process, made on first use: a server forks its workers after create_app,
    and threads or database connections must not cross a fork."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
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
                    self._engine,
                    refresh_interval=self._settings.refresh_interval,
                    log_queue_size=self._settings.decision_log_queue_size,
                    log_timeout=self._settings.decision_log_timeout,
                    ratelimit_storage=self._settings.ratelimit_storage,
                    log_in_process=self._settings.decision_log_writer == "process",
                    log_socket=os.environ.get(LOG_SOCKET_ENV),  # `govern serve`'s writer
                    checkpoints=checkpointer(self._engine, self._settings),
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


# The UI sets app.extensions[ERROR_PAGE] to a function (status, message, headers) -> an HTML page.
ERROR_PAGE = "govern.error_page"
# Paths a program calls: their errors are problem JSON, whatever the client accepts.
API_PATHS = ("/v1/", "/access/", "/.well-known/", "/healthz", "/readyz", "/metrics", "/openapi")


def _wants_a_page() -> bool:
    """A browser asking for a page (not a program calling an API path) gets errors as HTML."""
    if request.path.startswith(API_PATHS):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def register_api(app: Flask, settings: Settings, *, decisions_only: bool = False) -> None:
    """The Flask side of the JSON API: the admin API, the decision log and exports, the API
    document and operations; on a decision-only node operations alone."""
    from govern.api import (
        access_log,
        access_requests,
        admin_access_requests,
        admin_identity,
        admin_playground,
        admin_policy,
        admin_principals,
        admin_proposals,
        admin_users,
        admin_webhooks,
        auth,
        decisions,
        exports,
        governance_checklists,
        governance_incidents,
        governance_models,
        governance_red_team,
        governance_signoffs,
        openapi,
        ops,
        problems,
    )

    modules = (ops,) if decisions_only else (
        decisions, exports, ops, admin_policy, admin_principals, admin_identity, admin_proposals,
        admin_users, admin_playground, access_requests, admin_access_requests, admin_webhooks,
        governance_models, governance_signoffs, governance_red_team, governance_checklists,
        governance_incidents, openapi)
    for module in modules:
        csrf.exempt(module.bp)  # token-authenticated; session callers are checked in auth
        app.register_blueprint(module.bp)

    @app.errorhandler(Exception)
    def problem_answer(error: Exception) -> Response:
        if isinstance(error, CSRFError):
            answer = problems.problem(400, "csrf_invalid", error.description or error.name)
        else:
            answer = problems.answer(error)
        page: Callable[[int, str, Headers], Response] | None = current_app.extensions.get(ERROR_PAGE)
        if page is not None and _wants_a_page():
            body = answer.get_json()
            return page(body["status"], body["message"], answer.headers)
        return answer

    auth.register(app)
    if settings.access_log:
        @app.before_request
        def start_clock() -> None:
            request.environ[access_log.STARTED] = time.perf_counter()

        @app.after_request
        def write_line(response: Response) -> Response:
            access_log.write_line(request, response, request.environ.get(access_log.STARTED,
                                                                          time.perf_counter()))
            return response


def mount(app: Flask, plane: Plane) -> None:
    """List the decision plane's routes in the Flask app's URL map as well, so that url_for, route
    listings and the API document know every route the process serves. Their requests are answered
    by the plane before Flask sees them; should one reach Flask, it is answered by the same handler."""
    from govern.api.plane import ENDPOINTS

    views: dict[str, Callable[..., Response]] = {}
    for endpoint in ENDPOINTS:
        view = views.setdefault(endpoint.name, _through(plane, endpoint.name, endpoint.handler))
        app.add_url_rule(endpoint.path, endpoint.name, view, methods=endpoint.methods,
                         provide_automatic_options=False)


def _through(plane: Plane, name: str, handler: Callable[..., Response]) -> Callable[..., Response]:
    @wraps(handler)
    def view(**arguments: object) -> Response:
        return plane.respond(request, name, arguments)

    return view
