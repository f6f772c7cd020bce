"""Errors every layer raises; the web layer turns them into problem bodies or one-line CLI messages.

Layer: bottom. Each error carries a stable machine-readable `code` and a message for people.
"""

from __future__ import annotations

ECHO_LIMIT = 200


def shorten(text: str) -> str:
    """`text` cut to about ECHO_LIMIT characters: a message quotes what the caller sent, never all
    of it (a huge value would otherwise be copied into every log line and terminal)."""
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}... ({len(text)} characters)"


def echo(value: object) -> str:
    """`value`'s repr for an error message, shortened."""
    return shorten(repr(value))


class GovernError(Exception):
    """Base of govern's expected errors. `status` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Structured facts a program can act on (the API adds them to the problem body).
        self.details: dict[str, object] = dict(details or {})
        if code is not None:
            self.code = code


class InvalidInput(GovernError):
    status = 400
    code = "invalid_input"


class TooLarge(GovernError):
    """A request body over the limit of its endpoint, however it was sent."""

    status = 413
    code = "body_too_large"


class Unauthenticated(GovernError):
    status = 401
    code = "unauthenticated"


class Forbidden(GovernError):
    status = 403
    code = "forbidden"


class NotFound(GovernError):
    status = 404
    code = "not_found"


class Conflict(GovernError):
    status = 409
    code = "conflict"


class TooManyRequests(GovernError):
    """A caller past a bound of its own (not the decision plane's rate limits, which answer themselves)."""

    status = 429
    code = "too_many_requests"


class PolicyRejected(GovernError):
    """A policy change that would name something unknown or break the tier order; nothing applied."""

    status = 422
    code = "policy_invalid"


class ServiceUnavailable(GovernError):
    status = 503
    code = "service_unavailable"


class ConfigError(GovernError):
    """Settings that cannot work; raised at start-up, before anything is served."""

    code = "config_invalid"
