"""Every error leaves as a JSON problem body: {"code", "message", "status"}; never a stack trace.

One mapping from exception to answer (`answer`), used by both planes: the decision plane calls it
directly, the Flask app through its error handlers.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from govern.errors import GovernError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"
CHALLENGE = 'Bearer realm="govern"'


def json_response(payload: Any, status: int = 200, mimetype: str = JSON_TYPE) -> Response:
    """`payload` as a JSON answer (orjson: the decision endpoints serialise on every request)."""
    return Response(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), status=status, mimetype=mimetype)


def problem(status: int, code: str, message: str, **extra: object) -> Response:
    return json_response({"code": code, "message": message, "status": status, **extra}, status,
                         PROBLEM_TYPE)


def _http_code(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "_").replace("'", "")


def _http(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 413:
        return problem(413, "body_too_large", "the request body is larger than allowed")
    response = problem(status, _http_code(error), error.description or error.name)
    # The exception's own headers (a 405's Allow, for one), without its HTML content type.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def answer(error: Exception) -> Response:
    """The problem answer for `error`: govern's own errors with their status and code (a 401 with
    its challenge), HTTP errors with theirs, a value the database refuses as a 400, a database
    that cannot be reached as a 503, anything else as a logged 500."""
    if isinstance(error, GovernError):
        response = problem(error.status, error.code, error.message, **error.details)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = CHALLENGE
        return response
    if isinstance(error, HTTPException):
        return _http(error)
    if isinstance(error, DataError):
        return problem(400, "invalid_input",
                       "a value is not acceptable (for example a NUL character or a number out of range)")
    if isinstance(error, DBAPIError):
        log.error("database error: %s", error)
        return problem(503, "database_unavailable", "the database cannot be reached; try again")
    log.exception("unhandled error", exc_info=error)
    return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
