"""Webhooks end to end against a receiver on 127.0.0.1: signed deliveries from committed changes
only, retries on the documented schedule, replay with the same id, refused addresses, expiries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from factories import (
    ACTOR,
    add_models,
    make_governed_model,
    make_key,
    make_pep_key,
    make_signed_model,
    ready_sign_off,
)
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import Receiver, webhook_receiver

from govern.audit.trail import record_event
from govern.errors import InvalidInput
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.models import NotificationDelivery, WebhookEndpoint
from govern.models.base import utcnow
from govern.notifications.deliveries import RETRY_SCHEDULE, list_deliveries, replay
from govern.notifications.dispatcher import DispatchConfig, run_once
from govern.notifications.endpoints import add_endpoint, update_endpoint
from govern.policy.store import change_policy

SECRET_KEY = "test-secret-" + "x" * 40
ADMIN = "user:alice"


def config(*, allow_private: bool = True) -> DispatchConfig:
    return DispatchConfig(SECRET_KEY, allow_private, 7, timedelta(seconds=30), None)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiving:
        yield receiving


def register(session, receiver: Receiver, types: list[str]) -> int:  # type: ignore[no-untyped-def]
    made = add_endpoint(session, actor=ADMIN, url=receiver.url, event_types=types, secret_key=SECRET_KEY,
                        allow_private=True)
    receiver.secret = made.secret
    return made.info.id


def test_a_sign_off_is_delivered_once_signed_with_the_endpoints_secret(session, receiver):
    register(session, receiver, ["signoff.made"])
    make_signed_model(session, "atlas")
    run_once(session, config())
    run_once(session, config())
    assert len(receiver.received) == 1
    delivery = receiver.received[0]
    assert delivery.verified
    assert delivery.payload["type"] == "signoff.made"
    assert delivery.payload["data"]["target"] == "model:atlas"
    assert delivery.payload["data"]["actor"] == "user:boss"
    assert delivery.webhook_id.startswith("msg_")


def test_a_tampered_body_or_another_secret_fails_verification(session, receiver):
    register(session, receiver, ["signoff.made"])
    make_signed_model(session)
    run_once(session, config())
    got = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secret).verify(got.body.replace(b"boss", b"eve!"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(got.body, got.headers)


def test_a_change_that_rolled_back_sends_nothing(session, receiver):
    register(session, receiver, ["model.suspended"])
    record_event(session, actor=ADMIN, action="model.suspend", target="model:ghost")
    session.rollback()
    run_once(session, config())
    assert receiver.received == []


def test_events_before_the_endpoint_existed_are_not_sent(session, receiver):
    make_signed_model(session, "earlier")
    register(session, receiver, ["signoff.made"])
    run_once(session, config())
    assert receiver.received == []


def test_a_rating_without_a_quorum_asks_for_review(session, receiver):
    register(session, receiver, ["rating.changed", "review.needed"])
    make_governed_model(session, "fresh", post="medium")
    run_once(session, config())
    types = [item.payload["type"] for item in receiver.received]
    assert types.count("rating.changed") == 4  # one per tracked category
    assert types.count("review.needed") == 4


def test_a_new_rating_of_a_reviewed_model_asks_for_review_again(session, receiver):
    """The reviews were of the scorecard before the new rating: the quorum is no longer met."""
    model = make_governed_model(session, "reviewed", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="fine")
    register(session, receiver, ["rating.changed", "review.needed"])
    rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="high",
                  post_level="low", evidence="new eval")
    run_once(session, config())
    assert [item.payload["type"] for item in receiver.received] == ["rating.changed", "review.needed"]


def test_a_failed_delivery_is_retried_on_schedule_with_the_same_id(session, receiver):
    register(session, receiver, ["signoff.made"])
    receiver.statuses = [500, 503]
    make_signed_model(session)
    start = utcnow()
    run_once(session, config(), now=start)
    run_once(session, config(), now=start + timedelta(seconds=1))  # not due yet (5 s ± 10 %)
    assert len(receiver.received) == 1
    run_once(session, config(), now=start + timedelta(seconds=6))
    run_once(session, config(), now=start + timedelta(minutes=6))
    assert len(receiver.received) == 3
    assert len(set(receiver.ids())) == 1
    [delivery] = list_deliveries(session)
    assert delivery.state == "delivered"
    assert [attempt.status_code for attempt in delivery.attempts] == [500, 503, 204]
    assert [attempt.ok for attempt in delivery.attempts] == [False, False, True]
    assert delivery.attempts[0].error == "answered 500"


def test_retries_go_on_for_more_than_a_day_then_the_delivery_fails(session, receiver):
    endpoint_id = register(session, receiver, ["signoff.made"])
    receiver.statuses = [500] * 20
    make_signed_model(session)
    assert sum(RETRY_SCHEDULE, timedelta()) > timedelta(hours=24)
    at = utcnow()
    for _ in range(20):
        run_once(session, config(), now=at)
        at += timedelta(hours=11)
    [delivery] = list_deliveries(session, endpoint_id=endpoint_id)
    assert delivery.state == "failed"
    assert len(delivery.attempts) == len(RETRY_SCHEDULE) + 1
    assert len(receiver.received) == len(RETRY_SCHEDULE) + 1


def test_replay_sends_a_delivered_event_again_with_the_same_id(session, receiver):
    register(session, receiver, ["signoff.made"])
    make_signed_model(session)
    run_once(session, config())
    [delivery] = list_deliveries(session)
    replay(session, delivery.id, actor=ADMIN, now=utcnow())
    run_once(session, config())
    assert len(receiver.received) == 2
    assert receiver.ids()[0] == receiver.ids()[1]
    assert all(item.verified for item in receiver.received)
    [again] = list_deliveries(session)
    assert again.state == "delivered" and len(again.attempts) == 2


def test_a_redirect_is_not_followed_and_counts_as_a_failure(session, receiver):
    """A receiver cannot bounce govern on to an address it would refuse."""
    register(session, receiver, ["signoff.made"])
    receiver.statuses = [302]
    make_signed_model(session)
    run_once(session, config())
    [delivery] = list_deliveries(session)
    assert delivery.state == "pending" and delivery.attempts[0].status_code == 302
    assert len(receiver.received) == 1


def test_a_disabled_endpoint_gets_nothing_new(session, receiver):
    endpoint_id = register(session, receiver, ["signoff.made"])
    update_endpoint(session, endpoint_id, actor=ADMIN, enabled=False)
    make_signed_model(session)
    run_once(session, config())
    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/",
                                 "http://[::1]/", "http://169.254.169.254/latest/meta-data",
                                 "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
                                 "http://127.1/"])
def test_loopback_private_and_metadata_addresses_are_refused(session, url):
    with pytest.raises(InvalidInput) as refused:
        add_endpoint(session, actor=ADMIN, url=url, event_types=["signoff.made"], secret_key=SECRET_KEY,
                     allow_private=False)
    assert refused.value.code == "private_address"
    assert session.execute(select(WebhookEndpoint)).first() is None


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/",
                                 "example.com/hook", "http://:80/"])
def test_a_url_that_is_not_plain_http_is_refused(session, url):
    with pytest.raises(InvalidInput) as refused:
        add_endpoint(session, actor=ADMIN, url=url, event_types=["signoff.made"], secret_key=SECRET_KEY,
                     allow_private=True)
    assert refused.value.code == "invalid_url"


def test_an_address_allowed_once_is_checked_again_before_each_delivery(session, receiver):
    """An endpoint registered while private addresses were allowed, or a name re-pointed since."""
    register(session, receiver, ["signoff.made"])
    make_signed_model(session)
    run_once(session, config(allow_private=False))
    assert receiver.received == []
    [delivery] = list_deliveries(session)
    assert "private" in delivery.attempts[0].error


def test_the_signing_secret_is_not_stored_in_the_clear(session, receiver):
    register(session, receiver, ["signoff.made"])
    stored = session.execute(select(WebhookEndpoint.secret_sealed)).scalar_one()
    assert receiver.secret.startswith("whsec_")
    assert receiver.secret not in stored and receiver.secret.removeprefix("whsec_") not in stored


def test_an_expiring_sign_off_is_announced_once_and_its_expiry_once(session, receiver):
    register(session, receiver, ["signoff.expiring", "signoff.expired"])
    model, _ = make_signed_model(session, "soon")
    now = utcnow()
    ready_sign_off(session, actor="user:boss2", model=model, tier="verified",
                   expires_at=now + timedelta(days=3))
    run_once(session, config(), now=now)
    run_once(session, config(), now=now + timedelta(hours=1))
    assert [item.payload["type"] for item in receiver.received] == ["signoff.expiring"]
    run_once(session, config(), now=now + timedelta(days=4))
    run_once(session, config(), now=now + timedelta(days=5))
    assert [item.payload["type"] for item in receiver.received] == ["signoff.expiring", "signoff.expired"]
    assert receiver.received[1].payload["data"]["action"] == "notify.signoff_expired"


def test_a_key_expiring_far_ahead_is_not_announced_yet(session, receiver):
    register(session, receiver, ["key.expiring", "key.expired"])
    now = utcnow()
    make_key(session, "far", tier="verified", expires_at=now + timedelta(days=30))
    make_key(session, "near", tier="verified", expires_at=now + timedelta(days=2))
    run_once(session, config(), now=now)
    run_once(session, config(), now=now)
    [announced] = receiver.received
    assert announced.payload["type"] == "key.expiring"
    assert announced.payload["data"]["after"]["prefix"] in announced.payload["data"]["target"]
    run_once(session, config(), now=now + timedelta(days=3))
    assert [item.payload["type"] for item in receiver.received] == ["key.expiring", "key.expired"]


def test_every_delivery_in_the_database_names_an_existing_event(session, receiver):
    register(session, receiver, ["signoff.made", "rating.changed"])
    make_signed_model(session)
    run_once(session, config())
    rows = session.execute(select(NotificationDelivery)).scalars().all()
    assert {row.state for row in rows} == {"delivered"}
    assert len(rows) == len(receiver.received) == 5


def test_a_budget_threshold_reaches_the_webhook_as_limit_threshold(session, receiver, client):
    register(session, receiver, ["limit.threshold"])
    add_models(session)
    change_policy(session, lambda raw: raw.update(budgets={"free": [{"period": "day", "tokens": 100}]}),
                  actor=ACTOR, comment="budgets")
    key = make_key(session, "thrifty", tier="free")
    decided = client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                          headers={"Authorization": f"Bearer {key}"}).json
    assert client.post("/v1/usage", headers={"Authorization": f"Bearer {make_pep_key(session)}"},
                       json={"decision_id": decided["decision_id"], "input_tokens": 90,
                             "output_tokens": 0}).status_code == 201
    run_once(session, config())
    assert [d.payload["type"] for d in receiver.received] == ["limit.threshold"]
    assert receiver.received[0].payload["data"]["after"]["percent"] == 80
