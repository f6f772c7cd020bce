"""GET /v1/models, OpenAI-style: the models the calling client key may use, and for what.

Clients written against OpenAI's API list models this way; govern lists only those the key's tier
opens (for at least one capability, or for `?capability=` when given), so a picker never offers a
model the next call would be refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from govern.api.check import caller_key
from govern.api.problems import json_response
from govern.decisions.search import usable_models
from govern.errors import InvalidInput, Unauthenticated
from govern.identity.directory import AuthFailure

if TYPE_CHECKING:
    from govern.api.plane import Plane


def index(plane: Plane, request: Request) -> Response:
    capability = request.args.get("capability")
    if capability is not None and not 0 < len(capability) <= 100:
        raise InvalidInput("capability must be 1 to 100 characters", code="invalid_field")
    try:
        found = usable_models(plane.runtime(), caller_key(request.headers))
    except AuthFailure as failure:
        raise Unauthenticated(failure.message, code=failure.reason.value) from None
    return json_response({"object": "list", "data": [
        {"id": model.id, "object": "model", "owned_by": "govern", "group": model.group,
         "capabilities": list(model.capabilities)}
        for model in found if capability is None or capability in model.capabilities
    ]})
