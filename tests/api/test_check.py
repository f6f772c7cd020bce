"""POST /v1/check and /v1/check/batch: answers, refusals, and the decision row behind each."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from factories import add_models, make_key, make_user_key
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.identity.keys import revoke_key, rotate_key
from govern.models import Decision
from govern.models.base import utcnow

# add_models stores the test models as version 2, on top of the seeded version 1.
MODELS_VERSION = 2
WWW_AUTHENTICATE = 'Bearer realm="govern"'
STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def visible_prefix(key: str) -> str:
    """The `gvk_<12 hex>` part of a key: what lists and logs may show."""
    assert re.match(r"^gvk_[0-9a-f]{12}_.+$", key)
    return key[:16]


def rows(session: Session) -> list[Decision]:
    return list(session.execute(select(Decision).order_by(Decision.decision_id)).scalars())


def allow_rows(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Decision).where(Decision.allow)).scalar_one()


def poll(ask: Callable[[], Any], done: Callable[[Any], bool], limit: float = 2.0) -> Any:
    """Ask until `done` holds or `limit` seconds have passed; returns the last answer.
    The limit only bounds the loop: a change reaches the runtime within 0.05 s in tests."""
    deadline = time.monotonic() + limit
    answer = ask()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask()
    return answer


@pytest.fixture
def key(session: Session) -> str:
    """A client key of organisation acme (tier verified), with the test models in the policy."""
    add_models(session)
    return make_key(session, "acme", tier="verified")


# -- answers ---------------------------------------------------------------------------------


def test_bearer_key_gets_an_allow_with_every_answer_field(client, key):
    response = client.post("/v1/check", json=STANDARD_GENERATE, headers=bearer(key))

    assert response.status_code == 200
    body = response.json
    assert body["allow"] is True
    assert body["tier"] == "verified"
    assert body["reason"] == "granted_by_tier"
    assert body["policy_version"] == MODELS_VERSION
    assert re.fullmatch(r"[0-9a-f]{26}", body["decision_id"])


def test_x_api_key_header_is_accepted_like_bearer(client, key):
    response = client.post("/v1/check", json=STANDARD_GENERATE, headers={"X-API-Key": key})

    assert response.status_code == 200
    assert response.json["allow"] is True
    assert response.json["reason"] == "granted_by_tier"


def test_deny_is_an_answer_with_status_200(client, key):
    response = client.post("/v1/check", json={"model": "frontier-1", "capability": "generate"},
                           headers=bearer(key))

    assert response.status_code == 200
    assert response.json["allow"] is False
    assert response.json["reason"] == "tier_too_low"
    assert response.json["tier"] == "verified"


def test_unknown_model_is_a_200_deny_with_reason_unknown_model(client, key):
    response = client.post("/v1/check", json={"model": "no-such-model", "capability": "generate"},
                           headers=bearer(key))

    assert response.status_code == 200
    assert response.json["allow"] is False
    assert response.json["reason"] == "unknown_model"


def test_context_object_is_accepted(client, key):
    response = client.post("/v1/check", json={**STANDARD_GENERATE, "context": {"user": "u-1"}},
                           headers=bearer(key))

    assert response.status_code == 200
    assert response.json["allow"] is True


# -- the decision row ------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "allow", "reason"), [
    (STANDARD_GENERATE, True, "granted_by_tier"),
    ({"model": "frontier-1", "capability": "generate"}, False, "tier_too_low"),
])
def test_answered_check_has_exactly_one_committed_row_matching_the_answer(
        client, session, key, asked, allow, reason):
    response = client.post("/v1/check", json=asked,
                           headers={**bearer(key), "X-Request-ID": "req-row-1"})

    assert response.status_code == 200
    [row] = rows(session)
    assert row.decision_id == response.json["decision_id"]
    assert row.allow is allow
    assert row.reason == reason
    assert row.tier == "verified"
    assert row.model == asked["model"]
    assert row.capability == asked["capability"]
    assert row.policy_version == MODELS_VERSION
    assert row.key_prefix == visible_prefix(key)
    assert row.request_id == "req-row-1"
    assert response.json["allow"] is allow
    assert response.json["reason"] == reason


def test_decision_row_never_holds_the_key_secret(client, session, key):
    client.post("/v1/check", json=STANDARD_GENERATE, headers=bearer(key))
    client.post("/v1/check", json=STANDARD_GENERATE, headers=bearer(key + "tampered"))

    secret = key[17:]
    for row in rows(session):
        for column in Decision.__table__.columns:
            value = getattr(row, column.key)
            assert not (isinstance(value, str) and secret in value), column.key


# -- the request id --------------------------------------------------------------------------


def test_request_id_is_echoed_and_stored(client, session, key):
    response = client.post("/v1/check", json=STANDARD_GENERATE,
                           headers={**bearer(key), "X-Request-ID": "trace-abc-123"})

    assert response.headers["X-Request-ID"] == "trace-abc-123"
    assert rows(session)[0].request_id == "trace-abc-123"


def test_request_id_is_echoed_on_a_400(client, key):
    response = client.post("/v1/check", json={"model": "chat-standard"},
                           headers={**bearer(key), "X-Request-ID": "trace-bad-body"})

    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == "trace-bad-body"


def test_request_id_is_echoed_on_a_401_and_stored(client, session):
    response = client.post("/v1/check", json=STANDARD_GENERATE,
                           headers={"X-Request-ID": "trace-no-key"})

    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "trace-no-key"
    assert rows(session)[0].request_id == "trace-no-key"


def test_check_without_request_id_gets_its_decision_id_as_request_id(client, key):
    response = client.post("/v1/check", json=STANDARD_GENERATE, headers=bearer(key))

    assert response.headers["X-Request-ID"] == response.json["decision_id"]


def test_request_id_with_a_control_character_is_refused(client, key):
    response = client.post("/v1/check", json=STANDARD_GENERATE,
                           headers={**bearer(key), "X-Request-ID": "has\x01control"})

    assert response.status_code == 400
    assert response.json["code"] == "invalid_request_id"


# -- unauthenticated callers -----------------------------------------------------------------

UNKNOWN_KEY = "gvk_000000000000_" + "A" * 43


def _no_key(session: Session) -> tuple[dict[str, str], str | None]:
    return {}, None


def _unknown_key(session: Session) -> tuple[dict[str, str], str | None]:
    return bearer(UNKNOWN_KEY), "gvk_000000000000"


def _malformed_key(session: Session) -> tuple[dict[str, str], str | None]:
    return bearer("not-a-govern-key"), None


def _revoked_key(session: Session) -> tuple[dict[str, str], str | None]:
    key = make_key(session, "acme", tier="verified")
    revoke_key(session, visible_prefix(key), actor="test:setup")
    return bearer(key), visible_prefix(key)


def _expired_key(session: Session) -> tuple[dict[str, str], str | None]:
    # Rotating with no overlap ends the old key's validity now.
    key = make_key(session, "acme", tier="verified")
    rotate_key(session, visible_prefix(key), actor="test:setup", old_valid_until=utcnow())
    return bearer(key), visible_prefix(key)


def _admin_key(session: Session) -> tuple[dict[str, str], str | None]:
    key = make_user_key(session, "bob", frozenset({"admin"}))
    return bearer(key), visible_prefix(key)


@pytest.mark.parametrize(("make_headers", "code"), [
    (_no_key, "key_missing"),
    (_unknown_key, "key_unknown"),
    (_malformed_key, "key_unknown"),
    (_revoked_key, "key_revoked"),
    (_expired_key, "key_expired"),
    (_admin_key, "key_wrong_kind"),
], ids=["missing", "unknown", "malformed", "revoked", "expired", "admin-kind"])
def test_caller_without_a_valid_client_key_gets_401_and_a_deny_row(client, session, make_headers, code):
    add_models(session)
    headers, prefix = make_headers(session)

    response = client.post("/v1/check", json=STANDARD_GENERATE, headers=headers)

    assert response.status_code == 401
    assert response.json["code"] == code
    assert isinstance(response.json["message"], str) and response.json["message"]
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    [row] = rows(session)
    assert row.decision_id == response.json["decision_id"]
    assert row.allow is False
    assert row.reason == code
    assert row.key_prefix == prefix
    assert row.model == "chat-standard"
    assert row.capability == "generate"


def test_x_api_key_with_unknown_key_is_a_401(client):
    response = client.post("/v1/check", json=STANDARD_GENERATE, headers={"X-API-Key": UNKNOWN_KEY})

    assert response.status_code == 401
    assert response.json["code"] == "key_unknown"


# -- malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize(("data", "code"), [
    (b'{"model": "chat-standard", ', "malformed_json"),
    (b"", "malformed_json"),
    (b'["chat-standard", "generate"]', "malformed_json"),
    (b'{"capability": "generate"}', "missing_field"),
    (b'{"model": "chat-standard"}', "missing_field"),
    (b'{"model": 5, "capability": "generate"}', "invalid_field"),
    (b'{"model": "chat-standard", "capability": true}', "invalid_field"),
    (b'{"model": "chat-standard", "capability": "generate", "context": "x"}', "invalid_field"),
    (b'{"model": "", "capability": "generate"}', "invalid_field"),
], ids=["malformed-json", "empty-body", "non-object", "missing-model", "missing-capability",
        "model-number", "capability-bool", "context-string", "model-empty"])
def test_malformed_check_is_a_400_with_a_stable_code_and_no_allow_logged(client, session, key, data, code):
    response = client.post("/v1/check", data=data, content_type="application/json",
                           headers=bearer(key))

    assert response.status_code == 400
    assert response.json["code"] == code
    assert isinstance(response.json["message"], str) and response.json["message"]
    assert allow_rows(session) == 0


def test_body_over_64_kib_is_a_413_and_no_allow_logged(client, session, key):
    data = (b'{"model": "chat-standard", "capability": "generate", "context": {"pad": "'
            + b"x" * (64 * 1024) + b'"}}')

    response = client.post("/v1/check", data=data, content_type="application/json", headers=bearer(key))

    assert (response.status_code, response.json["code"]) == (413, "body_too_large")
    assert allow_rows(session) == 0


def test_body_just_under_64_kib_is_answered(client, key):
    body = {**STANDARD_GENERATE, "context": {"pad": "x" * (63 * 1024)}}

    response = client.post("/v1/check", json=body, headers=bearer(key))

    assert response.status_code == 200
    assert response.json["allow"] is True


# -- batches ---------------------------------------------------------------------------------

# (question, allow, reason) for a verified caller.
BATCH_CASES = [
    ({"model": "chat-standard", "capability": "generate"}, True, "granted_by_tier"),
    ({"model": "frontier-1", "capability": "generate"}, False, "tier_too_low"),
    ({"model": "open-7b", "capability": "tools"}, True, "granted_by_tier"),
    ({"model": "unknown-model", "capability": "generate"}, False, "unknown_model"),
    ({"model": "open-7b", "capability": "teleport"}, False, "unknown_capability"),
]


def test_batch_of_one_answers_one_result_with_one_row(client, session, key):
    response = client.post("/v1/check/batch", json={"checks": [STANDARD_GENERATE]},
                           headers=bearer(key))

    assert response.status_code == 200
    [result] = response.json["results"]
    assert result["allow"] is True
    assert result["reason"] == "granted_by_tier"
    assert result["policy_version"] == MODELS_VERSION
    [row] = rows(session)
    assert row.decision_id == result["decision_id"]
    assert row.model == "chat-standard"
    assert row.capability == "generate"


def test_batch_of_100_answers_in_order_with_one_row_each(client, session, key):
    cases = [BATCH_CASES[i % len(BATCH_CASES)] for i in range(100)]

    response = client.post("/v1/check/batch", json={"checks": [asked for asked, _, _ in cases]},
                           headers={**bearer(key), "X-Request-ID": "batch-100"})

    assert response.status_code == 200
    results = response.json["results"]
    assert [(r["allow"], r["reason"]) for r in results] == [(a, r) for _, a, r in cases]
    by_id = {row.decision_id: row for row in rows(session)}
    assert len(by_id) == 100
    for (asked, allow, reason), result in zip(cases, results, strict=True):
        row = by_id[result["decision_id"]]
        assert (row.model, row.capability, row.allow, row.reason) == (
            asked["model"], asked["capability"], allow, reason)
        assert row.key_prefix == visible_prefix(key)
        assert row.request_id == "batch-100"


@pytest.mark.parametrize("count", [0, 101])
def test_batch_needs_1_to_100_checks(client, session, key, count):
    response = client.post("/v1/check/batch", json={"checks": [STANDARD_GENERATE] * count},
                           headers=bearer(key))

    assert response.status_code == 400
    assert response.json["code"] == "invalid_batch"
    assert rows(session) == []


def test_batch_without_checks_list_is_a_400(client, key):
    response = client.post("/v1/check/batch", json={"checks": "all"}, headers=bearer(key))

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def test_bad_item_in_a_batch_is_a_400_naming_its_index(client, session, key):
    checks = [STANDARD_GENERATE, STANDARD_GENERATE, {"model": "chat-standard"}, STANDARD_GENERATE]

    response = client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(key))

    assert response.status_code == 400
    assert response.json["code"] == "missing_field"
    assert "checks[2]" in response.json["message"]
    assert rows(session) == []


def test_non_object_item_in_a_batch_is_a_400_naming_its_index(client, key):
    response = client.post("/v1/check/batch", json={"checks": [STANDARD_GENERATE, "generate"]},
                           headers=bearer(key))

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"
    assert "checks[1]" in response.json["message"]


def test_batch_with_unknown_key_is_a_401_with_one_deny_row(client, session):
    response = client.post("/v1/check/batch", json={"checks": [STANDARD_GENERATE] * 3},
                           headers=bearer(UNKNOWN_KEY))

    assert response.status_code == 401
    assert response.json["code"] == "key_unknown"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    [row] = rows(session)
    assert (row.allow, row.reason, row.decision_id) == (False, "key_unknown", response.json["decision_id"])


# -- changes take effect without a restart ---------------------------------------------------


def _check(client, key: str, asked: dict[str, str] = STANDARD_GENERATE) -> Any:
    return client.post("/v1/check", json=asked, headers=bearer(key))


def test_blocking_a_model_through_the_admin_api_is_answered_with_the_new_version(client, key, admin):
    assert _check(client, key).json["allow"] is True  # the runtime now holds version 2

    changed = client.put("/v1/admin/blocked-models/chat-standard", headers=admin)
    assert changed.status_code == 200
    assert changed.json["policy_version"] == 3

    response = poll(lambda: _check(client, key), lambda r: r.json["policy_version"] != MODELS_VERSION)
    assert response.status_code == 200
    assert response.json["policy_version"] == 3
    assert response.json["allow"] is False
    assert response.json["reason"] == "model_blocked"


def test_grant_added_through_the_admin_api_opens_access_without_restart(client, key, admin):
    frontier = {"model": "frontier-1", "capability": "generate"}
    assert _check(client, key, frontier).json["reason"] == "tier_too_low"

    changed = client.post("/v1/admin/grants", headers=admin,
                          json={"tier": "verified", "target": "frontier", "capability": "generate"})
    assert changed.status_code == 201

    response = poll(lambda: _check(client, key, frontier), lambda r: r.json["policy_version"] == 3)
    assert response.json["policy_version"] == 3
    assert response.json["allow"] is True
    assert response.json["reason"] == "granted_by_tier"


def test_suspended_organisation_is_denied_after_propagation(client, key, admin):
    assert _check(client, key).json["allow"] is True
    [org] = client.get("/v1/admin/organisations", headers=admin).json["organisations"]

    changed = client.patch(f"/v1/admin/organisations/{org['id']}", json={"suspended": True},
                           headers=admin)
    assert changed.status_code == 200

    response = poll(lambda: _check(client, key), lambda r: r.json["reason"] != "granted_by_tier")
    assert response.status_code == 200
    assert response.json["allow"] is False
    assert response.json["reason"] == "org_suspended"


def test_suspended_key_is_denied_after_propagation(client, key, admin):
    assert _check(client, key).json["allow"] is True

    changed = client.patch(f"/v1/admin/keys/{visible_prefix(key)}", json={"suspended": True},
                           headers=admin)
    assert changed.status_code == 200

    response = poll(lambda: _check(client, key), lambda r: r.json["reason"] != "granted_by_tier")
    assert response.status_code == 200
    assert response.json["allow"] is False
    assert response.json["reason"] == "key_suspended"


def test_revoked_key_gets_401_after_propagation(client, key, admin):
    assert _check(client, key).status_code == 200

    changed = client.post(f"/v1/admin/keys/{visible_prefix(key)}/revoke", headers=admin)
    assert changed.status_code == 200

    response = poll(lambda: _check(client, key), lambda r: r.status_code != 200)
    assert response.status_code == 401
    assert response.json["code"] == "key_revoked"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_raised_organisation_tier_is_answered_after_propagation(client, key, admin):
    frontier = {"model": "frontier-1", "capability": "generate"}
    assert _check(client, key, frontier).json["reason"] == "tier_too_low"
    [org] = client.get("/v1/admin/organisations", headers=admin).json["organisations"]

    client.patch(f"/v1/admin/organisations/{org['id']}", json={"tier": "trusted"}, headers=admin)

    response = poll(lambda: _check(client, key, frontier), lambda r: r.json["tier"] != "verified")
    assert response.json["tier"] == "trusted"
    assert response.json["allow"] is True


def test_rotated_key_and_its_successor_both_work_during_the_overlap(client, key, admin):
    rotated = client.post(f"/v1/admin/keys/{visible_prefix(key)}/rotate",
                          json={"overlap_seconds": 3600}, headers=admin)
    assert rotated.status_code == 201
    successor = rotated.json["key"]

    assert _check(client, successor).json["allow"] is True
    assert _check(client, key).json["allow"] is True


def test_key_rotated_without_overlap_gets_401_key_expired(client, key, admin):
    assert _check(client, key).status_code == 200

    rotated = client.post(f"/v1/admin/keys/{visible_prefix(key)}/rotate",
                          json={"overlap_seconds": 0}, headers=admin)
    assert rotated.status_code == 201

    response = poll(lambda: _check(client, key), lambda r: r.status_code != 200)
    assert response.status_code == 401
    assert response.json["code"] == "key_expired"
    assert _check(client, rotated.json["key"]).json["allow"] is True


def test_key_expiring_in_the_future_is_answered(client, session):
    add_models(session)
    key = make_key(session, "acme", tier="verified", expires_at=utcnow() + timedelta(hours=1))

    assert _check(client, key).json["allow"] is True


def test_a_nul_character_in_the_body_is_refused_before_anything_is_recorded(client, session):
    key = make_key(session, "acme", tier="verified")

    response = client.post("/v1/check", data=b'{"model": "chat\\u0000", "capability": "generate"}',
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})

    assert (response.status_code, response.json["code"]) == (400, "invalid_field")
    assert session.execute(select(func.count()).select_from(Decision)).scalar_one() == 0
