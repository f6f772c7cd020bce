"""Webhooks: the endpoints, registering one (its secret shown once, in the answer to the POST, with
`Cache-Control: no-store`), one endpoint's page with its event types, enabling, removal and its
delivery log with a replay button per delivery."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, url_for
from werkzeug.wrappers import Response

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.notification_forms import EventTypesForm, WebhookForm
from govern.admin.people_forms import ConfirmForm
from govern.errors import InvalidInput
from govern.extensions import current_session
from govern.models.base import utcnow
from govern.notifications import deliveries, endpoints

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
html_errors(bp)
INVALID = 400
# Ids past a 32-bit integer column are no endpoint (404), not a database error.
ENDPOINT = "<int(max=2147483647):endpoint_id>"
DELIVERY = "<int(max=2147483647):delivery_id>"


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    return _index(WebhookForm(formdata=None))[0]


def _index(form: WebhookForm, status: int = 200) -> tuple[str, int]:
    return render_template("webhooks/list.html", endpoints=endpoints.list_endpoints(current_session()),
                           form=form, holds=holds), status


@bp.post("")
@roles_required("admin")
def create() -> Response | tuple[str, int]:
    form = WebhookForm()
    if not form.validate():
        return _index(form, INVALID)
    settings = current_app.extensions["govern.settings"]
    try:
        made = endpoints.add_endpoint(
            current_session(), actor=actor(), url=form.url.data, event_types=form.event_types.data,
            description=form.description.data or "", secret_key=settings.secret_key,
            allow_private=settings.webhook_allow_private)
    except InvalidInput as error:
        form.url.errors.append(error.message)
        return _index(form, INVALID)
    page = make_response(render_template("webhooks/created.html", endpoint=made.info, secret=made.secret))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get(f"/{ENDPOINT}")
@roles_required(*READERS)
def detail(endpoint_id: int) -> str:
    endpoint = endpoints.get_endpoint(current_session(), endpoint_id)
    return _detail(endpoint_id, EventTypesForm(formdata=None, event_types=endpoint.event_types))[0]


def _detail(endpoint_id: int, form: EventTypesForm, status: int = 200) -> tuple[str, int]:
    session = current_session()
    return render_template("webhooks/detail.html", endpoint=endpoints.get_endpoint(session, endpoint_id),
                           deliveries=deliveries.list_deliveries(session, endpoint_id=endpoint_id),
                           form=form, confirm=ConfirmForm(), holds=holds), status


@bp.post(f"/{ENDPOINT}/types")
@roles_required("admin")
def types(endpoint_id: int) -> Response | tuple[str, int]:
    form = EventTypesForm()
    if not form.validate():
        return _detail(endpoint_id, form, INVALID)
    endpoints.update_endpoint(current_session(), endpoint_id, actor=actor(),
                              event_types=form.event_types.data)
    flash("Event types saved.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id))


@bp.post(f"/{ENDPOINT}/enable")
@roles_required("admin")
def enable(endpoint_id: int) -> Response | tuple[str, int]:
    return _switch(endpoint_id, enabled=True)


@bp.post(f"/{ENDPOINT}/disable")
@roles_required("admin")
def disable(endpoint_id: int) -> Response | tuple[str, int]:
    return _switch(endpoint_id, enabled=False)


def _switch(endpoint_id: int, *, enabled: bool) -> Response | tuple[str, int]:
    if not ConfirmForm().validate():
        return _detail(endpoint_id, EventTypesForm(formdata=None), INVALID)
    endpoints.update_endpoint(current_session(), endpoint_id, actor=actor(), enabled=enabled)
    flash(f"Endpoint {'enabled' if enabled else 'disabled'}.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id))


@bp.post(f"/{ENDPOINT}/delete")
@roles_required("admin")
def delete(endpoint_id: int) -> Response | tuple[str, int]:
    if not ConfirmForm().validate():
        return _detail(endpoint_id, EventTypesForm(formdata=None), INVALID)
    endpoints.remove_endpoint(current_session(), endpoint_id, actor=actor())
    flash("Endpoint removed.", "success")
    return redirect(url_for("webhooks.index"))


@bp.post(f"/{ENDPOINT}/deliveries/{DELIVERY}/replay")
@roles_required("admin")
def replay(endpoint_id: int, delivery_id: int) -> Response | tuple[str, int]:
    if not ConfirmForm().validate():
        return _detail(endpoint_id, EventTypesForm(formdata=None), INVALID)
    deliveries.replay(current_session(), delivery_id, actor=actor(), now=utcnow(), endpoint_id=endpoint_id)
    flash(f"Delivery {delivery_id} will be sent again.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id))
