"""The admin API's request bodies: the JSON object of Flask's request, read by the rules of
govern.api.body (which the decision plane uses as they are)."""

from __future__ import annotations

from typing import Any

from flask import request

from govern.api.body import read_json


def json_body(limit: int | None = None, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; `optional` lets an empty body stand for {}."""
    return read_json(request, limit, optional=optional)
