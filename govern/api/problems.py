"""Every error leaves as a JSON problem body: {"code", "message", "status"}; never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import HTTPException

from govern.errors import GovernError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, code: str, message: str, **extra: object) -> Response:
    response = jsonify({"code": code, "message": message, "status": status, **extra})
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response


def _http_code(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "_").replace("'", "")


def register(app: Flask) -> None:
    @app.errorhandler(GovernError)
    def governed(error: GovernError) -> Response:
        response = problem(error.status, error.code, error.message)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="govern"'
        return response

    @app.errorhandler(HTTPException)
    def http(error: HTTPException) -> Response:
        status = error.code or 500
        message = error.description or error.name
        if isinstance(error, CSRFError):
            return problem(400, "csrf_invalid", message)
        if status == 413:
            return problem(413, "body_too_large", "the request body is larger than allowed")
        response = problem(status, _http_code(error), message)
        # The exception's own headers (a 405's Allow, for one), without its HTML content type.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(DataError)
    def refused_value(error: DataError) -> Response:
        return problem(400, "invalid_input",
                       "a value is not acceptable (for example a NUL character or a number out of range)")

    @app.errorhandler(DBAPIError)
    def database(error: DBAPIError) -> Response:
        log.error("database error: %s", error)
        return problem(503, "database_unavailable", "the database cannot be reached; try again")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
