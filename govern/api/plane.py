"""The decision plane: the decision endpoints as a lean WSGI app on werkzeug's Request and Response.

A decision pays for nothing it does not need: no session, no login manager, no CSRF, no UI hooks
(in the full Flask app they cost about 45 % of a worker). The plane answers its own routes and
hands every other request, untouched, to the app behind it: the full Flask app of the admin UI and
admin API, or on a decision-only node a Flask app with the operations endpoints alone. Its handlers
(check, authorize, authzen, model_list, usage, feedback) only adapt HTTP; the decisions are govern.decisions'.
Nothing here imports Flask (an import-linter contract keeps it so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from govern.api import authorize, authzen, check, feedback, model_list, usage
from govern.api.access_log import write_line
from govern.api.body import MAX_BODY_BYTES
from govern.api.problems import answer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from govern.api import RuntimeHolder
    from govern.config import Settings
    from govern.decisions.runtime import Runtime
    from govern.gateway.routes import Route

Handler = Callable[..., Response]  # (plane, request, **path arguments)


@dataclass(frozen=True)
class Endpoint:
    """A route of the plane: a werkzeug rule path, its methods and the one handler answering it."""

    path: str
    methods: tuple[str, ...]
    handler: Handler

    @property
    def name(self) -> str:
        """`module.function`, as Flask names an endpoint: check.check, authzen.evaluation, ..."""
        return f"{self.handler.__module__.rpartition('.')[2]}.{self.handler.__name__}"


ENDPOINTS = (
    Endpoint("/v1/check", ("POST",), check.check),
    Endpoint("/v1/check/batch", ("POST",), check.check_batch),
    Endpoint("/v1/authorize", ("GET", "POST"), authorize.authorize),
    Endpoint("/v1/authorize/<path:forwarded>", authorize.FORWARDED_METHODS, authorize.authorize),
    Endpoint("/v1/models", ("GET",), model_list.index),
    Endpoint("/v1/usage", ("POST",), usage.report),
    Endpoint("/v1/feedback", ("POST",), feedback.report),
    Endpoint("/access/v1/evaluation", ("POST",), authzen.evaluation),
    Endpoint("/access/v1/evaluations", ("POST",), authzen.evaluations),
    Endpoint("/access/v1/search/resource", ("POST",), authzen.search_resource),
    Endpoint("/access/v1/search/action", ("POST",), authzen.search_action),
    Endpoint("/access/v1/search/subject", ("POST",), authzen.search_subject),
    Endpoint("/.well-known/authzen-configuration", ("GET",), authzen.configuration),
)
# Everything under these is the plane's: an unknown path there is the plane's 404, never the admin app's.
OWN_PREFIXES = ("/access/",)


class PlaneRequest(Request):
    # The same ceiling as the admin app's; each endpoint lowers it for its own body.
    max_content_length = MAX_BODY_BYTES


class Plane:
    """The WSGI app of the decision endpoints, in front of `behind`, which gets every other path.

    `holder` gives this process's Runtime; `routes` are the gateway routes forward-auth resolves
    requests with."""

    def __init__(self, holder: RuntimeHolder, settings: Settings, routes: tuple[Route, ...],
                 behind: WSGIApplication) -> None:
        self.settings = settings
        self.routes = routes
        self._holder = holder
        self._behind = behind
        self._handlers = {endpoint.name: endpoint.handler for endpoint in ENDPOINTS}
        # No slash merging: "/v1//check" is not the plane's, and the app behind redirects it.
        urls = Map([Rule(e.path, endpoint=e.name, methods=e.methods) for e in ENDPOINTS], merge_slashes=False)
        self._urls = urls.bind("")

    def runtime(self) -> Runtime:
        return self._holder.get()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request = PlaneRequest(environ)
        try:
            name, arguments = self._urls.match(request.path, request.method)
        except NotFound as error:
            if not request.path.startswith(OWN_PREFIXES):
                return self._behind(environ, start_response)
            response = answer(error)
        except MethodNotAllowed as error:
            response = answer(error)
        else:
            response = self.respond(request, name, arguments)
        value = request.headers.get("X-Request-ID")
        # The caller's X-Request-ID comes back on every answer, errors included.
        if value is not None and check.REQUEST_ID.match(value):
            response.headers["X-Request-ID"] = value
        if self.settings.access_log:
            write_line(request, response, started)
        return response(environ, start_response)

    def respond(self, request: Request, name: str, arguments: Mapping[str, Any]) -> Response:
        """The answer of endpoint `name` to `request`; any error as its problem answer."""
        try:
            return self._handlers[name](self, request, **arguments)
        except Exception as error:  # every error leaves as a problem body, never as a stack trace
            return answer(error)
