"""`govern webhooks` (endpoints and their delivery log) and `govern notify run` (the dispatcher).

Layer: web.
"""

from __future__ import annotations

import signal
import threading

import click

from govern.cli.context import actor, app_context, session
from govern.models.base import utcnow
from govern.notifications.catalogue import EVENT_TYPES

TYPES_HELP = f"Event types, comma-separated, or 'all': {', '.join(EVENT_TYPES)}."


def _types(text: str) -> list[str]:
    if text.strip() == "all":
        return list(EVENT_TYPES)
    return [name.strip() for name in text.split(",") if name.strip()]


@click.group()
def webhooks() -> None:
    """Webhook endpoints: signed (Standard Webhooks), retried for over a day, logged."""


@webhooks.command("add")
@click.argument("url")
@click.option("--events", required=True, help=TYPES_HELP)
@click.option("--description", default="", help="What the endpoint is for.")
def webhooks_add(url: str, events: str, description: str) -> None:
    from govern.notifications.endpoints import add_endpoint

    with app_context() as app:
        settings = app.extensions["govern.settings"]
        made = add_endpoint(session(), actor=actor(), url=url, event_types=_types(events),
                            description=description, secret_key=settings.secret_key,
                            allow_private=settings.webhook_allow_private)
    click.echo(made.info.id)
    click.echo(made.secret)
    click.echo(f"(webhook {made.info.id} for {made.info.url}; its signing secret is shown only now)",
               err=True)


@webhooks.command("list")
def webhooks_list() -> None:
    from govern.notifications.endpoints import list_endpoints

    with app_context():
        for endpoint in list_endpoints(session()):
            state = "enabled" if endpoint.enabled else "disabled"
            click.echo(f"{endpoint.id:>4}  {state:<8}  {endpoint.url}  {','.join(endpoint.event_types)}")


@webhooks.command("update")
@click.argument("endpoint_id", type=int)
@click.option("--events", default=None, help=TYPES_HELP)
@click.option("--enable/--disable", "enabled", default=None)
def webhooks_update(endpoint_id: int, events: str | None, enabled: bool | None) -> None:
    from govern.notifications.endpoints import update_endpoint

    with app_context():
        updated = update_endpoint(session(), endpoint_id, actor=actor(),
                                  event_types=_types(events) if events is not None else None, enabled=enabled)
    click.echo(f"webhook {updated.id}: {'enabled' if updated.enabled else 'disabled'}, "
               f"{','.join(updated.event_types)}")


@webhooks.command("remove")
@click.argument("endpoint_id", type=int)
def webhooks_remove(endpoint_id: int) -> None:
    from govern.notifications.endpoints import remove_endpoint

    with app_context():
        remove_endpoint(session(), endpoint_id, actor=actor())
    click.echo(f"webhook {endpoint_id} removed")


@webhooks.command("deliveries")
@click.argument("endpoint_id", type=int)
def webhooks_deliveries(endpoint_id: int) -> None:
    """The endpoint's newest deliveries, each with its attempts."""
    from govern.notifications.deliveries import list_deliveries
    from govern.notifications.endpoints import get_endpoint

    with app_context():
        get_endpoint(session(), endpoint_id)  # an unknown endpoint is an error, not an empty log
        for delivery in list_deliveries(session(), endpoint_id=endpoint_id):
            last = delivery.attempts[-1] if delivery.attempts else None
            outcome = (f"{last.status_code or '-'} {last.error}".strip() if last else "not tried yet")
            click.echo(f"{delivery.id:>6}  {delivery.state:<9}  {delivery.event_type:<24} "
                       f"{delivery.event_id}  "
                       f"attempts={len(delivery.attempts)}  {outcome}")


@webhooks.command("replay")
@click.argument("delivery_id", type=int)
def webhooks_replay(delivery_id: int) -> None:
    """Send a delivery again (same webhook-id) at the dispatcher's next round."""
    from govern.notifications.deliveries import replay

    with app_context():
        replay(session(), delivery_id, actor=actor(), now=utcnow())
    click.echo(f"delivery {delivery_id} will be sent again")


@click.group()
def notify() -> None:
    """The notification dispatcher (webhooks and e-mail)."""


@notify.command("run")
@click.option("--once", is_flag=True, help="One round: send what is due now, then exit.")
def notify_run(once: bool) -> None:
    """Scan for expiries, fan new audit events out and send what is due, every GOVERN_NOTIFY_INTERVAL
    seconds until SIGTERM (`govern serve` runs one)."""
    from govern.notifications.dispatcher import DispatchConfig, run_forever, run_once

    with app_context() as app:
        settings = app.extensions["govern.settings"]
        config = DispatchConfig.from_settings(settings)
        if once:
            done = run_once(session(), config)
            click.echo(f"{done.events} audit events read, {done.sent} sent, {done.delivered} delivered")
            return
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda _number, _frame: stop.set())
        run_forever(session(), config, interval=settings.notify_interval, stop=stop)
