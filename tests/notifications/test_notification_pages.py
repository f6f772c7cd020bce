"""The Webhooks and Notifications pages: an endpoint's secret shown once and uncached, event types,
disabling, removal, replay from the delivery log; auditors only read, other roles are turned away,
a post without its CSRF token changes nothing; each person chooses their own e-mail."""

from __future__ import annotations

import re

from factories import make_signed_model
from sqlalchemy import select
from ui import csrf_token
from webhook_receiver import webhook_receiver

from govern.identity.users import find_user
from govern.models import AuditEvent, WebhookEndpoint
from govern.notifications.deliveries import list_deliveries
from govern.notifications.dispatcher import DispatchConfig, run_once
from govern.notifications.endpoints import get_endpoint, list_endpoints
from govern.notifications.preferences import chosen

SECRET = re.compile(r'id="secret" type="text" readonly value="(whsec_[^"]+)"')
ADMIN = frozenset({"admin"})


def add(client, token: str, url: str, *types: str):  # type: ignore[no-untyped-def]
    return client.post("/webhooks", data={"csrf_token": token, "url": url, "description": "ops",
                                          "event_types": list(types)})


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(app, client, session, ui_login):
    token = ui_login(client, "ann", ADMIN)
    with webhook_receiver() as receiver:
        page = add(client, token, receiver.url, "signoff.made")
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        match = SECRET.search(page.get_data(as_text=True))
        assert match is not None
        receiver.secret = match.group(1)
        [endpoint] = list_endpoints(session)
        detail = client.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
        listing = client.get("/webhooks").get_data(as_text=True)
        assert receiver.secret not in detail and receiver.secret not in listing
        assert receiver.url in listing

        make_signed_model(session)
        run_once(session, DispatchConfig.from_settings(app.extensions["govern.settings"]))
        assert "signoff.made" in client.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
        [delivery] = list_deliveries(session, endpoint_id=endpoint.id)
        replayed = client.post(f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay",
                               data={"csrf_token": token})
        assert replayed.status_code == 302
        run_once(session, DispatchConfig.from_settings(app.extensions["govern.settings"]))
        assert receiver.ids() == [delivery.event_id] * 2 and all(r.verified for r in receiver.received)


def test_a_delivery_of_another_endpoint_is_not_replayed_through_this_ones_page(app, client, session,
                                                                               ui_login):
    token = ui_login(client, "ann", ADMIN)
    with webhook_receiver() as receiver:
        add(client, token, receiver.url, "signoff.made")
        add(client, token, "http://127.0.0.1:9/other", "key.expired")
        mine, other = list_endpoints(session)
        make_signed_model(session)
        run_once(session, DispatchConfig.from_settings(app.extensions["govern.settings"]))
        [delivery] = list_deliveries(session, endpoint_id=mine.id)
        answer = client.post(f"/webhooks/{other.id}/deliveries/{delivery.id}/replay",
                             data={"csrf_token": token})
        assert answer.status_code == 404
        assert list_deliveries(session, endpoint_id=mine.id)[0].state == "delivered"


def test_event_types_disabling_and_removal(client, session, ui_login):
    token = ui_login(client, "ann", ADMIN)
    add(client, token, "http://127.0.0.1:9/hook", "signoff.made")
    [endpoint] = list_endpoints(session)
    saved = client.post(f"/webhooks/{endpoint.id}/types",
                        data={"csrf_token": token, "event_types": ["key.expiring", "key.expired"]})
    assert saved.status_code == 302
    assert get_endpoint(session, endpoint.id).event_types == ["key.expiring", "key.expired"]
    assert client.post(f"/webhooks/{endpoint.id}/disable", data={"csrf_token": token}).status_code == 302
    assert get_endpoint(session, endpoint.id).enabled is False
    assert client.post(f"/webhooks/{endpoint.id}/delete", data={"csrf_token": token}).status_code == 302
    assert list_endpoints(session) == []
    trail = session.execute(select(AuditEvent)).scalars()
    actions = [event.action for event in trail if event.action.startswith("webhook.")]
    assert actions == ["webhook.create", "webhook.update", "webhook.update", "webhook.delete"]


def test_a_bad_url_or_no_event_type_is_shown_on_the_form(client, session, ui_login):
    token = ui_login(client, "ann", ADMIN)
    bad = add(client, token, "ftp://example.com/", "signoff.made")
    assert bad.status_code == 400 and "a webhook URL is http://" in bad.get_data(as_text=True)
    none = add(client, token, "http://127.0.0.1:9/hook")
    assert none.status_code == 400 and "choose at least one event type" in none.get_data(as_text=True)
    assert session.execute(select(WebhookEndpoint)).first() is None


def test_an_auditor_reads_the_pages_and_other_roles_are_turned_away(app, client, session, ui_login):
    admin = app.test_client()
    add(admin, ui_login(admin, "ann", ADMIN), "http://127.0.0.1:9/hook", "signoff.made")
    [endpoint] = list_endpoints(session)
    token = ui_login(client, "audrey", frozenset({"auditor"}))
    assert client.get("/webhooks").status_code == 200
    assert client.get(f"/webhooks/{endpoint.id}").status_code == 200
    assert 'id="add"' not in client.get("/webhooks").get_data(as_text=True)
    assert add(client, token, "http://127.0.0.1:9/other", "signoff.made").status_code == 403
    assert client.post(f"/webhooks/{endpoint.id}/delete", data={"csrf_token": token}).status_code == 403
    rita = app.test_client()
    ui_login(rita, "rita", frozenset({"reviewer"}))
    assert rita.get("/webhooks").status_code == 403
    assert len(list_endpoints(session)) == 1


def test_a_post_without_its_csrf_token_changes_nothing(client, session, ui_login):
    token = ui_login(client, "ann", ADMIN)
    add(client, token, "http://127.0.0.1:9/hook", "signoff.made")
    [endpoint] = list_endpoints(session)
    assert client.post(f"/webhooks/{endpoint.id}/delete", data={}).status_code == 400
    assert add(client, "", "http://127.0.0.1:9/two", "signoff.made").status_code == 400
    assert len(list_endpoints(session)) == 1


def test_each_person_chooses_their_own_email(app, client, session, ui_login):
    ui_login(client, "ada", frozenset({"approver"}))
    page = client.get("/notifications").get_data(as_text=True)
    assert "signoff.expiring" in page and "change.proposed" not in page  # not an admin's
    token = csrf_token(client, "/notifications")
    saved = client.post("/notifications", data={"csrf_token": token, "receive": ["signoff.expiring"]})
    assert saved.status_code == 302
    ada = find_user(session, "ada").person_id
    assert [name for name, on in chosen(session, ada).items() if on] == ["signoff.expiring"]
    other = app.test_client()
    ui_login(other, "abe", frozenset({"approver"}))
    abe = find_user(session, "abe").person_id
    assert all(chosen(session, abe).values())  # ada's choice is hers alone
    refused = other.post("/notifications", data={"csrf_token": csrf_token(other, "/notifications"),
                                                 "receive": ["change.proposed"]})
    assert refused.status_code == 400  # not a type that concerns an approver
    assert all(chosen(session, abe).values())
