"""POST /v1/feedback: a client (about its own decisions) or a gateway reports what went wrong with
a decision's call; bounded, validated, and switched off by GOVERN_FEEDBACK_INTAKE."""

from __future__ import annotations

from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.decisions import feedback
from govern.models import FeedbackReport

GENERATE = {"model": "chat-standard", "capability": "generate"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored(session: Session) -> list[FeedbackReport]:
    session.rollback()  # the plane commits in its own session
    return list(session.execute(select(FeedbackReport).order_by(FeedbackReport.id)).scalars())


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    add_models(session)
    return {"acme": make_key(session, "acme", tier="verified"),
            "globex": make_key(session, "globex", tier="verified"),
            "pep": make_pep_key(session)}


def decide(client, key: str, request_id: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    headers = bearer(key) | ({"X-Request-ID": request_id} if request_id else {})
    response = client.post("/v1/check", json=GENERATE, headers=headers)
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def send(client, key: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/feedback", json={"subject": "output", "category": "harmful_output", **body},
                       headers=bearer(key))


def test_a_client_reports_its_own_decision_and_it_waits_for_triage(client, session, keys):  # type: ignore[no-untyped-def]
    decision = decide(client, keys["acme"])
    response = send(client, keys["acme"], decision_id=decision["decision_id"],
                    text="told me how to pick locks")
    assert response.status_code == 201
    assert response.json["state"] == "new"
    assert response.json["model"] == "chat-standard"
    [row] = stored(session)
    assert (row.decision_id, row.category, row.subject, row.text) == (
        decision["decision_id"], "harmful_output", "output", "told me how to pick locks")
    assert (row.reported_by, row.reporter_kind) == (keys["acme"][:16], "client")


def test_a_gateway_reports_by_request_id(client, session, keys):  # type: ignore[no-untyped-def]
    decision = decide(client, keys["acme"], request_id="req-abc-123")
    response = send(client, keys["pep"], request_id="req-abc-123", category="jailbreak", subject="prompt")
    assert response.status_code == 201, response.json
    assert response.json["decision_id"] == decision["decision_id"]
    assert stored(session)[0].reporter_kind == "pep"


def test_a_client_key_of_another_organisation_is_refused(client, session, keys):  # type: ignore[no-untyped-def]
    decision = decide(client, keys["acme"], request_id="req-abc-123")
    by_id = send(client, keys["globex"], decision_id=decision["decision_id"])
    by_request = send(client, keys["globex"], request_id="req-abc-123")
    assert (by_id.status_code, by_id.json["code"]) == (404, "decision_not_found")
    assert (by_request.status_code, by_request.json["code"]) == (404, "decision_not_found")
    assert stored(session) == []


def test_an_unknown_decision_is_404(client, keys):  # type: ignore[no-untyped-def]
    response = send(client, keys["pep"], decision_id="0" * 26)
    assert (response.status_code, response.json["code"]) == (404, "decision_not_found")


def test_oversize_text_and_unknown_category_are_problems(client, session, keys):  # type: ignore[no-untyped-def]
    decision = decide(client, keys["acme"])
    long = send(client, keys["acme"], decision_id=decision["decision_id"], text="x" * 2001)
    odd = send(client, keys["acme"], decision_id=decision["decision_id"], category="spam")
    none = send(client, keys["acme"])
    assert (long.status_code, long.json["code"]) == (400, "text_too_long")
    assert (odd.status_code, odd.json["code"]) == (400, "unknown_category")
    assert (none.status_code, none.json["code"]) == (400, "missing_decision")
    assert stored(session) == []


def test_no_key_is_401_and_an_admin_key_is_refused(client, keys, admin):  # type: ignore[no-untyped-def]
    assert client.post("/v1/feedback", json={}).status_code == 401
    assert client.post("/v1/feedback", json={}, headers=admin).status_code == 401


def test_a_key_past_its_daily_cap_is_429(client, session, keys, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(feedback, "DAILY_CAP", 2)
    decision = decide(client, keys["acme"])
    answers = [send(client, keys["acme"], decision_id=decision["decision_id"]).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert send(client, keys["pep"], decision_id=decision["decision_id"]).status_code == 201  # its own cap
    assert len(stored(session)) == 3


def test_intake_switched_off_is_a_clear_problem(app_with, keys):  # type: ignore[no-untyped-def]
    client = app_with(GOVERN_FEEDBACK_INTAKE="off").test_client()
    response = send(client, keys["acme"], decision_id="0" * 26)
    assert (response.status_code, response.json["code"]) == (404, "feedback_disabled")
