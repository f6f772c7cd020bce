"""The admin API and the CLI for webhooks: the secret shown once and never again, roles checked,
bad input answered with a problem (API) or one line (CLI), every change in the audit trail, the
delivery log and replay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from factories import make_signed_model, make_user_key
from sqlalchemy import select
from webhook_receiver import Receiver, webhook_receiver

from govern.models import AuditEvent
from govern.models.base import utcnow
from govern.notifications.dispatcher import DispatchConfig, run_once
from govern.notifications.outbox import fan_out

ALL_TYPES = 21


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiving:
        yield receiving


@pytest.fixture
def admin(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(make_user_key(session, "alice", frozenset({"admin"})))


@pytest.fixture
def auditor(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(make_user_key(session, "audrey", frozenset({"auditor"})))


def dispatch(app, session) -> None:  # type: ignore[no-untyped-def]
    run_once(session, DispatchConfig.from_settings(app.extensions["govern.settings"]))


def actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    return [event.action for event in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
            if event.action.startswith("webhook.")]


def test_an_endpoint_made_over_the_api_gets_signed_deliveries_and_a_replay(app, client, session, admin,
                                                                            receiver):
    made = client.post("/v1/admin/webhooks", headers=admin,
                       json={"url": receiver.url, "event_types": ["signoff.made"], "description": "ops"})
    assert made.status_code == 201, made.json
    assert made.headers["Cache-Control"] == "no-store"
    receiver.secret = made.json["secret"]
    assert receiver.secret.startswith("whsec_")
    webhook_id = made.json["id"]
    shown = client.get(f"/v1/admin/webhooks/{webhook_id}", headers=admin)
    assert "secret" not in shown.json and receiver.secret not in shown.get_data(as_text=True)
    listed = client.get("/v1/admin/webhooks", headers=admin)
    assert receiver.secret not in listed.get_data(as_text=True)
    assert len(listed.json["event_types"]) == ALL_TYPES

    make_signed_model(session)
    dispatch(app, session)
    log = client.get(f"/v1/admin/webhooks/{webhook_id}/deliveries", headers=admin).json["deliveries"]
    assert [(d["event_type"], d["state"], len(d["attempts"])) for d in log] == [
        ("signoff.made", "delivered", 1)]
    assert client.post(f"/v1/admin/deliveries/{log[0]['id']}/replay", headers=admin).status_code == 202
    dispatch(app, session)
    assert receiver.ids() == [log[0]["event_id"]] * 2
    assert all(item.verified for item in receiver.received)
    trail = session.execute(select(AuditEvent)).scalars()
    assert receiver.secret not in str([(event.before, event.after) for event in trail])
    assert actions(session) == ["webhook.create", "webhook.replay"]


def test_an_auditor_reads_webhooks_but_changes_none(client, session, admin, auditor, receiver):
    made = client.post("/v1/admin/webhooks", headers=admin, json={"url": receiver.url,
                                                                  "event_types": ["key.expired"]})
    webhook_id = made.json["id"]
    assert client.get("/v1/admin/webhooks", headers=auditor).status_code == 200
    refused = [client.post("/v1/admin/webhooks", headers=auditor,
                           json={"url": receiver.url, "event_types": ["key.expired"]}),
               client.patch(f"/v1/admin/webhooks/{webhook_id}", headers=auditor, json={"enabled": False}),
               client.delete(f"/v1/admin/webhooks/{webhook_id}", headers=auditor),
               client.post("/v1/admin/deliveries/1/replay", headers=auditor)]
    assert [response.status_code for response in refused] == [403, 403, 403, 403]
    assert actions(session) == ["webhook.create"]


def test_an_endpoint_is_updated_and_removed_and_each_change_is_audited(client, session, admin, receiver):
    webhook_id = client.post("/v1/admin/webhooks", headers=admin,
                             json={"url": receiver.url, "event_types": ["key.expired"]}).json["id"]
    changed = client.patch(f"/v1/admin/webhooks/{webhook_id}", headers=admin,
                           json={"enabled": False, "event_types": ["key.expiring", "key.expired"]})
    assert changed.status_code == 200
    assert changed.json["enabled"] is False and changed.json["event_types"] == ["key.expiring", "key.expired"]
    assert client.delete(f"/v1/admin/webhooks/{webhook_id}", headers=admin).status_code == 204
    assert client.get(f"/v1/admin/webhooks/{webhook_id}", headers=admin).status_code == 404
    assert actions(session) == ["webhook.create", "webhook.update", "webhook.delete"]


@pytest.mark.parametrize(("body", "code"), [
    ({"url": "http://127.0.0.1/", "event_types": ["nope"]}, "invalid_event_type"),
    ({"url": "http://127.0.0.1/", "event_types": []}, "invalid_event_type"),
    ({"url": "http://127.0.0.1/", "event_types": [1]}, "invalid_field"),
    ({"url": "gopher://127.0.0.1/", "event_types": ["key.expired"]}, "invalid_url"),
    ({"event_types": ["key.expired"]}, "missing_field"),
])
def test_bad_input_is_a_problem_and_stores_nothing(client, session, admin, body, code):
    answer = client.post("/v1/admin/webhooks", headers=admin, json=body)
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json" and answer.json["code"] == code
    assert client.get("/v1/admin/webhooks", headers=admin).json["webhooks"] == []


def test_a_private_address_is_refused_when_not_allowed(client, env, admin):
    from govern import create_app

    strict = create_app({**env, "GOVERN_WEBHOOK_ALLOW_PRIVATE": "off"}).test_client()
    answer = strict.post("/v1/admin/webhooks", headers=admin,
                         json={"url": "http://127.0.0.1:8080/hook", "event_types": ["key.expired"]})
    assert answer.status_code == 400 and answer.json["code"] == "private_address"


def test_replaying_an_unknown_or_pending_delivery_is_refused(app, client, session, admin, receiver):
    client.post("/v1/admin/webhooks", headers=admin,
                json={"url": receiver.url, "event_types": ["signoff.made"]})
    assert client.post("/v1/admin/deliveries/999/replay", headers=admin).json["code"] == "delivery_not_found"
    make_signed_model(session)
    fan_out(session, now=utcnow(), email=False)  # queued, not yet tried
    [pending] = client.get("/v1/admin/webhooks/1/deliveries", headers=admin).json["deliveries"]
    answer = client.post(f"/v1/admin/deliveries/{pending['id']}/replay", headers=admin)
    assert answer.status_code == 409 and answer.json["code"] == "delivery_pending"


def test_the_cli_adds_lists_logs_replays_and_removes(govern, session, receiver):
    added = govern("webhooks", "add", receiver.url, "--events", "signoff.made,signoff.reversed")
    assert added.exit_code == 0, added.output
    webhook_id, secret = added.stdout.splitlines()[:2]
    receiver.secret = secret
    assert secret.startswith("whsec_")
    listed = govern("webhooks", "list")
    assert receiver.url in listed.stdout and secret not in listed.stdout
    make_signed_model(session)
    ran = govern("notify", "run", "--once")
    assert ran.exit_code == 0 and "1 delivered" in ran.stdout
    log = govern("webhooks", "deliveries", webhook_id)
    assert "delivered" in log.stdout and "signoff.made" in log.stdout
    delivery_id = log.stdout.split()[0]
    assert govern("webhooks", "replay", delivery_id).exit_code == 0
    govern("notify", "run", "--once")
    assert len(receiver.received) == 2 and receiver.received[0].verified
    assert govern("webhooks", "remove", webhook_id).exit_code == 0
    assert receiver.url not in govern("webhooks", "list").stdout


@pytest.mark.parametrize("args", [("webhooks", "add", "ftp://x/", "--events", "signoff.made"),
                                  ("webhooks", "add", "http://127.0.0.1/", "--events", "made.up"),
                                  ("webhooks", "remove", "42"), ("webhooks", "replay", "42"),
                                  ("webhooks", "deliveries", "42")])
def test_the_cli_answers_bad_input_in_one_line(govern, args):
    result = govern(*args)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
