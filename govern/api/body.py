"""Reading and checking JSON request bodies: each mistake is a 400 naming the field, a body over
its limit a 413. Free of Flask: the decision plane reads its bodies with these too."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from govern.errors import InvalidInput, TooLarge

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Above any single request; the decision endpoints set their own, lower limits per request.
MAX_BODY_BYTES = 1024 * 1024
# "\u0000" in a JSON text, unless its backslash is itself escaped.
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def read_json(request: Request, limit: int | None = None, *, optional: bool = False,
              json_only: bool = False) -> dict[str, Any]:
    """`request`'s JSON object. `limit` lowers the app-wide body size for this request;
    `optional` lets an empty body stand for {}; `json_only` refuses a body not sent as
    `Content-Type: application/json` (AuthZEN's HTTPS binding requires it)."""
    if json_only and request.mimetype != "application/json":
        raise InvalidInput("the request needs Content-Type: application/json",
                           code="unsupported_content_type")
    if limit is not None:
        request.max_content_length = limit
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise TooLarge(f"the request body is larger than {request.max_content_length} bytes") from None
    if not data and optional:
        return {}
    if not data:
        raise InvalidInput("the request needs a JSON body", code="malformed_json")
    if NUL_ESCAPE.search(data):
        # No database stores it in text (PostgreSQL refuses it): refuse it here, for every field.
        raise InvalidInput("strings in the body must not contain the NUL character", code="invalid_field")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", code="malformed_json")
    return body


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *,
          required: bool = True, max_length: int | None = None, default: Any = None,
          nullable: bool = True) -> Any:
    """body[name] checked for presence, type and length; `nullable=False` refuses a JSON null
    where leaving the field out is the way to say "none"."""
    if not nullable and name in body and body[name] is None:
        raise InvalidInput(f"field {name!r} must not be null", code="invalid_field")
    if name not in body or body[name] is None:
        if required:
            raise InvalidInput(f"field {name!r} is required", code="missing_field")
        return default
    value = body[name]
    # bool is an int in Python; a JSON true is never a number here.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise InvalidInput(f"field {name!r} must be of type {_json_type(names)}", code="invalid_field")
    if max_length is not None and isinstance(value, str) and not 0 < len(value) <= max_length:
        raise InvalidInput(f"field {name!r} must be 1 to {max_length} characters", code="invalid_field")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_type(names: str) -> str:
    return (names.replace("str", "string").replace("dict", "object").replace("list", "array")
            .replace("int", "integer").replace("bool", "boolean"))


def time_field(body: Mapping[str, Any], name: str) -> datetime | None:
    """An optional ISO 8601 time; one without a zone is taken as UTC."""
    raw = field(body, name, str, required=False)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
        # In UTC here: a time at the edge of the calendar whose UTC form falls outside it is a 400.
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(f"field {name!r} must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z",
                           code="invalid_field") from None


class MeasuredBody:
    """WSGI middleware: a body sent without a length (chunked) is read here, up to `limit` bytes and
    one more, and passed on with the length read, so every limit further in (the app's, an
    endpoint's) holds for the bytes actually read, as for a body with a Content-Length. Without
    it, a chunked body is cut at the limit and the cut body answered as if it were the request.
    Past `limit` the length passed on is over every limit, and reading the body is a 413."""

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self._app = app
        self._limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        streamed = environ.get("HTTP_TRANSFER_ENCODING") or not environ.get("CONTENT_LENGTH")
        # A server that does not mark its input as ended gives no body without a length at all.
        if streamed and environ.get("wsgi.input_terminated"):
            data = environ["wsgi.input"].read(self._limit + 1)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(data))
            environ["wsgi.input"] = io.BytesIO(data)
        return self._app(environ, start_response)
