"""Unauthenticated requests are all recorded, but past a source's allowance in aggregate rows, so
whoever reaches the port cannot grow the decision log at will (one row per request)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from factories import add_models, make_key
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.models import Decision
from govern.models.base import utcnow

ALLOWANCE = 3
ATTEMPTS = 20
STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}
UNKNOWN = {"Authorization": "Bearer gvk_000000000000_not-a-key"}


def attempts_logged(session: Session, **where: Any) -> int:
    session.expire_all()
    query = select(func.coalesce(func.sum(Decision.attempts), 0)).where(
        *(getattr(Decision, name) == value for name, value in where.items()))
    return int(session.execute(query).scalar_one())


def rows(session: Session, **where: Any) -> list[Decision]:
    session.expire_all()
    return list(session.execute(select(Decision).filter_by(**where).order_by(Decision.decision_id)).scalars())


def wait_for(done: Callable[[], bool], limit: float = 10.0) -> None:
    """Aggregate rows are committed within about a second; the limit only bounds the loop."""
    deadline = time.monotonic() + limit
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def aggregated_metric(client: Any, reason: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    match = re.search(rf'^govern_unauthenticated_aggregated_total{{reason="{reason}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_past_its_allowance_a_source_is_logged_in_aggregate_rows_and_every_attempt_counted(
        app_with: Callable[..., Flask], session: Session) -> None:
    client = app_with(GOVERN_UNAUTHENTICATED_ROWS_PER_MINUTE=str(ALLOWANCE)).test_client()
    metric_before = aggregated_metric(client, "key_unknown")

    answers = [client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE) for _ in range(ATTEMPTS)]

    assert {(a.status_code, a.json["code"]) for a in answers} == {(401, "key_unknown")}
    wait_for(lambda: attempts_logged(session, reason="key_unknown") == ATTEMPTS)
    own = rows(session, reason="key_unknown", attempts=1)
    aggregates = [row for row in rows(session, reason="key_unknown") if row.attempts > 1]
    assert len(own) == ALLOWANCE
    assert [row.model for row in own] == ["chat-standard"] * ALLOWANCE  # what was asked, kept
    assert sum(row.attempts for row in aggregates) == ATTEMPTS - ALLOWANCE
    assert len(aggregates) <= 2  # one per second at most, not one per request
    assert all(not row.allow and row.key_prefix is None for row in aggregates)
    # Every caller's decision id is in the log: past the allowance, that of its aggregate row.
    logged = {row.decision_id for row in rows(session)}
    assert {a.json["decision_id"] for a in answers} <= logged
    assert aggregated_metric(client, "key_unknown") - metric_before == ATTEMPTS - ALLOWANCE


def test_a_valid_key_and_another_source_are_not_held_to_a_flooding_source(
        app_with: Callable[..., Flask], session: Session) -> None:
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    client = app_with(GOVERN_UNAUTHENTICATED_ROWS_PER_MINUTE=str(ALLOWANCE)).test_client()
    for _ in range(ATTEMPTS):
        assert client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE).status_code == 401

    allowed = client.post("/v1/check", headers={"Authorization": f"Bearer {key}"}, json=STANDARD_GENERATE)
    elsewhere = client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE,
                            environ_base={"REMOTE_ADDR": "10.0.0.7"})

    assert allowed.status_code == 200 and allowed.json["allow"] is True
    assert [row.attempts for row in rows(session, decision_id=allowed.json["decision_id"])] == [1]
    assert [row.attempts for row in rows(session, decision_id=elsewhere.json["decision_id"])] == [1]


def test_unauthenticated_evaluations_and_batches_count_against_the_same_allowance(
        app_with: Callable[..., Flask], session: Session) -> None:
    client = app_with(GOVERN_UNAUTHENTICATED_ROWS_PER_MINUTE=str(ALLOWANCE)).test_client()
    evaluation = {"subject": {"type": "key", "id": "gvk_000000000000"}, "action": {"name": "generate"},
                  "resource": {"type": "model", "id": "chat-standard"}}
    for _ in range(ATTEMPTS):
        assert client.post("/access/v1/evaluation", headers=UNKNOWN, json=evaluation).status_code == 401
        assert client.post("/v1/check/batch", headers=UNKNOWN,
                           json={"checks": [STANDARD_GENERATE] * 5}).status_code == 401

    wait_for(lambda: attempts_logged(session) == 2 * ATTEMPTS)
    assert attempts_logged(session) == 2 * ATTEMPTS
    assert len(rows(session)) < 2 * ATTEMPTS // 3


def test_an_aggregate_row_already_stored_is_not_sent_again_and_again(
        app_with: Callable[..., Flask], session: Session) -> None:
    # A flush whose commit timed out may have landed all the same: sent again, its row would be
    # refused as a duplicate at every flush, and the counts after it held back for ever.
    app = app_with(GOVERN_UNAUTHENTICATED_ROWS_PER_MINUTE="1")
    client = app.test_client()
    with app.app_context():
        runtime = app.extensions["govern.runtime"].get()
    client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE)  # the one row of its own
    told = client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE).json["decision_id"]
    landed = Decision(decision_id=told, created_at=utcnow(), allow=False, reason="key_unknown",
                      latency_us=0, attempts=1)
    session.add(landed)
    session.commit()

    wait_for(lambda: not runtime.refusals.pending())
    assert not runtime.refusals.pending()
    assert [row.decision_id for row in rows(session) if row.decision_id == told] == [told]
    # Later attempts open a new aggregate, which is stored.
    later = client.post("/v1/check", headers=UNKNOWN, json=STANDARD_GENERATE).json["decision_id"]
    wait_for(lambda: bool(rows(session, decision_id=later)))
    assert [row.attempts for row in rows(session, decision_id=later)] == [1]
