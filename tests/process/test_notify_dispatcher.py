"""The notification dispatcher as real processes against a receiver on 127.0.0.1: killed with
SIGKILL halfway, the next one delivers every event, and none that the first recorded as delivered
is sent again; `govern serve` runs a dispatcher of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

from databases import query
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from webhook_receiver import webhook_receiver

from govern.audit.trail import record_event

EVENTS = 24
DELIVERED = "SELECT event_id FROM notification_delivery WHERE state = 'delivered'"
BOUND = 90.0  # seconds any wait below may take on a busy machine


def record_suspensions(database_url: str, count: int) -> None:
    """`count` committed audit events the catalogue maps (suspend and lift, in turn)."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        for number in range(count):
            action = "model.suspend" if number % 2 == 0 else "model.lift_suspension"
            record_event(session, actor="user:test", action=action, target="model:open-7b")
            session.commit()
    engine.dispose()


def dispatcher(env: dict[str, str], govern_command) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.Popen([str(govern_command.executable), "notify", "run"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for(done, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + BOUND
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(30)


def test_a_killed_dispatcher_leaves_nothing_lost_and_nothing_recorded_sent_twice(demo_instance,
                                                                                 govern_command):
    env = demo_instance.env(GOVERN_WEBHOOK_ALLOW_PRIVATE="on", GOVERN_NOTIFY_LEASE_SECONDS="2",
                            GOVERN_NOTIFY_INTERVAL="0.1")
    with webhook_receiver() as receiver:
        receiver.delay = 0.1  # slow enough to be killed mid-way
        added = govern_command.run(env, "webhooks", "add", receiver.url,
                                   "--events", "model.suspended,model.suspension_lifted")
        receiver.secret = added.stdout.splitlines()[1]
        record_suspensions(demo_instance.database_url, EVENTS)

        first = dispatcher(env, govern_command)
        try:
            wait_for(lambda: len(receiver.received) >= EVENTS // 3, "the first deliveries")
        finally:
            stop(first, signal.SIGKILL)
        recorded = {str(row[0]) for row in query(demo_instance.database_url, DELIVERED)}
        assert 0 < len(recorded) < EVENTS

        second = dispatcher(env, govern_command)
        try:
            wait_for(lambda: len(set(receiver.ids())) == EVENTS, "every event")
        finally:
            stop(second)

    rows = query(demo_instance.database_url, "SELECT event_id, state FROM notification_delivery")
    assert len(rows) == EVENTS and {state for _, state in rows} == {"delivered"}
    assert set(receiver.ids()) == {str(event_id) for event_id, _ in rows}
    sent = Counter(receiver.ids())
    assert {event_id: sent[event_id] for event_id in recorded if sent[event_id] != 1} == {}
    # Only the delivery in flight at the kill may have reached the receiver twice.
    assert sum(count - 1 for count in sent.values()) <= 1
    assert all(item.verified for item in receiver.received)


def test_govern_serve_delivers_webhooks_with_its_own_dispatcher(demo_instance, govern_command, serve_process):
    env = demo_instance.env(GOVERN_WEBHOOK_ALLOW_PRIVATE="on", GOVERN_NOTIFY_INTERVAL="0.1")
    with webhook_receiver() as receiver:
        added = govern_command.run(env, "webhooks", "add", receiver.url, "--events", "model.suspended")
        receiver.secret = added.stdout.splitlines()[1]
        serve_process(env)
        record_suspensions(demo_instance.database_url, 1)
        wait_for(lambda: len(receiver.received) == 1, "the delivery")
        assert receiver.received[0].verified
        assert receiver.received[0].payload["type"] == "model.suspended"
