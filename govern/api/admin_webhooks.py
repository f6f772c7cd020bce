"""Admin API for webhook endpoints and their delivery log. A new endpoint's signing secret is in
the answer to the POST that made it (with `Cache-Control: no-store`) and nowhere else."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.errors import InvalidInput, NotFound
from govern.extensions import current_session
from govern.models.base import utcnow
from govern.notifications import deliveries, endpoints
from govern.notifications.catalogue import EVENT_TYPES

bp = Blueprint("admin_webhooks", __name__, url_prefix="/v1/admin")

MAX_ID = 2**31 - 1
NOTE = "store the signing secret now: it is shown only once"


@bp.url_value_preprocessor
def _id_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name in ("webhook_id", "delivery_id"):
        value = (values or {}).get(name)
        if isinstance(value, int) and value > MAX_ID:
            thing = name.removesuffix("_id")
            raise NotFound(f"no {thing} {value}", code=f"{thing}_not_found")


def _types(body: dict[str, Any], required: bool) -> list[str] | None:
    names: list[str] | None = field(body, "event_types", list, required=required, nullable=False)
    if names is not None and not all(isinstance(name, str) for name in names):
        raise InvalidInput("field 'event_types' must be an array of strings", code="invalid_field")
    return names


@bp.get("/webhooks")
@require_role("admin", "auditor")
def list_webhooks() -> Response:
    return jsonify({"webhooks": [e.as_dict() for e in endpoints.list_endpoints(current_session())],
                    "event_types": {name: kind.summary for name, kind in EVENT_TYPES.items()}})


@bp.post("/webhooks")
@require_role("admin")
def create_webhook() -> Response:
    body = json_body()
    settings = current_app.extensions["govern.settings"]
    made = endpoints.add_endpoint(
        current_session(), actor=g.actor, url=field(body, "url", str, max_length=2000),
        event_types=_types(body, required=True) or [],
        description=field(body, "description", str, required=False, default="", max_length=200),
        secret_key=settings.secret_key, allow_private=settings.webhook_allow_private)
    response = jsonify({"secret": made.secret, **made.info.as_dict(), "note": NOTE})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks/<int:webhook_id>")
@require_role("admin", "auditor")
def show_webhook(webhook_id: int) -> Response:
    return jsonify(endpoints.get_endpoint(current_session(), webhook_id).as_dict())


@bp.patch("/webhooks/<int:webhook_id>")
@require_role("admin")
def update_webhook(webhook_id: int) -> Response:
    body = json_body()
    return jsonify(endpoints.update_endpoint(
        current_session(), webhook_id, actor=g.actor, event_types=_types(body, required=False),
        enabled=field(body, "enabled", bool, required=False, nullable=False),
        description=field(body, "description", str, required=False, nullable=False, max_length=200),
    ).as_dict())


@bp.delete("/webhooks/<int:webhook_id>")
@require_role("admin")
def delete_webhook(webhook_id: int) -> Response:
    endpoints.remove_endpoint(current_session(), webhook_id, actor=g.actor)
    return Response(status=204)


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@require_role("admin", "auditor")
def list_webhook_deliveries(webhook_id: int) -> Response:
    endpoints.get_endpoint(current_session(), webhook_id)  # 404 for an unknown endpoint
    listed = deliveries.list_deliveries(current_session(), endpoint_id=webhook_id)
    return jsonify({"deliveries": [d.as_dict() for d in listed]})


@bp.post("/deliveries/<int:delivery_id>/replay")
@require_role("admin")
def replay_delivery(delivery_id: int) -> Response:
    deliveries.replay(current_session(), delivery_id, actor=g.actor, now=utcnow())
    response = jsonify({"delivery_id": delivery_id, "state": "pending"})
    response.status_code = 202
    return response
