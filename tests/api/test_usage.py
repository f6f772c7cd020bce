"""POST /v1/usage: a gateway (pep key) or the deciding client reports what an allowed call used;
one report per decision, only on an allow, only by those entitled to it."""

from __future__ import annotations

from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key, make_user_key
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.identity.keys import revoke_key, update_key
from govern.models import Usage

STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def usage_rows(session: Session) -> list[Usage]:
    session.rollback()  # a fresh read: the plane commits in its own session
    return list(session.execute(select(Usage).order_by(Usage.decision_id)).scalars())


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    """A client key of acme (verified), one of globex (verified) and an enforcement point's."""
    add_models(session)
    return {"acme": make_key(session, "acme", tier="verified"),
            "globex": make_key(session, "globex", tier="verified"),
            "pep": make_pep_key(session)}


def decide(client, key: str, question: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/v1/check", json=question or STANDARD_GENERATE, headers=bearer(key))
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def report(client, key: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/usage", json=body, headers=bearer(key))


# -- stored ----------------------------------------------------------------------------------


def test_pep_key_reports_usage_of_an_allow_and_it_is_stored(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=12,
                      output_tokens=30, cost="0.0000135", model="chat-standard")

    assert response.status_code == 201
    assert response.json["input_tokens"] == 12
    assert response.json["output_tokens"] == 30
    assert response.json["cost"] == "0.000013500"
    assert response.json["currency"] == "USD"
    assert response.json["reported_by"] == keys["pep"][:16]
    [row] = usage_rows(session)
    assert (row.decision_id, row.input_tokens, row.output_tokens, row.cost_nanos) == (
        decision["decision_id"], 12, 30, 13_500)
    assert row.model == "chat-standard"
    assert row.key_prefix == keys["acme"][:16]


def test_cost_as_a_json_number_is_kept_to_nine_places(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1, cost=1.5e-05)

    assert response.status_code == 201
    assert response.json["cost"] == "0.000015000"


def test_cost_is_optional(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=0,
                      output_tokens=0)

    assert response.status_code == 201
    assert response.json["cost"] is None


def test_the_deciding_client_may_report_its_own_usage(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["acme"], decision_id=decision["decision_id"], input_tokens=5,
                      output_tokens=7)

    assert response.status_code == 201
    assert response.json["reported_by"] == keys["acme"][:16]


def test_currency_follows_the_setting(app_with, keys):
    client = app_with(GOVERN_CURRENCY="EUR").test_client()
    decision = decide(client, keys["acme"])

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1, cost="2")

    assert response.json["currency"] == "EUR"


# -- one report per decision -------------------------------------------------------------------


def test_the_same_report_again_is_answered_as_before_and_stored_once(client, session, keys):
    decision = decide(client, keys["acme"])
    body = {"decision_id": decision["decision_id"], "input_tokens": 3, "output_tokens": 4, "cost": "0.1"}
    first = report(client, keys["pep"], **body)

    again = report(client, keys["pep"], **body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert len(usage_rows(session)) == 1


def test_a_different_second_report_is_a_conflict_and_changes_nothing(client, session, keys):
    decision = decide(client, keys["acme"])
    report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=3, output_tokens=4)

    # The client, say, trying to lower what its gateway reported.
    response = report(client, keys["acme"], decision_id=decision["decision_id"], input_tokens=0,
                      output_tokens=0)

    assert response.status_code == 409
    assert response.json["code"] == "usage_already_reported"
    [row] = usage_rows(session)
    assert (row.input_tokens, row.output_tokens) == (3, 4)


def test_the_gateways_report_stands_over_the_clients_own(client, session, keys):
    decision = decide(client, keys["acme"])
    # The client reports first, low, hoping the gateway's true figures will be refused as a second report.
    low = report(client, keys["acme"], decision_id=decision["decision_id"], input_tokens=1, output_tokens=1)

    true = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=900,
                  output_tokens=300, cost="0.5")
    lowered_again = report(client, keys["acme"], decision_id=decision["decision_id"], input_tokens=1,
                           output_tokens=1)

    assert (low.status_code, true.status_code) == (201, 201)
    assert lowered_again.status_code == 409
    [row] = usage_rows(session)
    assert (row.input_tokens, row.output_tokens, row.cost_nanos, row.reported_by) == (
        900, 300, 500_000_000, keys["pep"][:16])


def test_a_second_gateway_cannot_replace_the_first_gateways_report(client, session, keys):
    decision = decide(client, keys["acme"])
    other_gateway = make_pep_key(session, "other-gateway")
    report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=900, output_tokens=300)

    response = report(client, other_gateway, decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1)

    assert response.status_code == 409
    assert response.json["code"] == "usage_already_reported"
    [row] = usage_rows(session)
    assert (row.input_tokens, row.output_tokens) == (900, 300)


# -- refused ---------------------------------------------------------------------------------


def test_another_organisation_cannot_report_on_a_decision_not_its_own(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["globex"], decision_id=decision["decision_id"], input_tokens=10**6,
                      output_tokens=10**6)

    # As unknown to globex as a made-up id: it learns nothing of acme's decisions.
    assert response.status_code == 404
    assert response.json["code"] == "decision_not_found"
    assert usage_rows(session) == []


def test_a_deny_has_no_usage(client, session, keys):
    decision = decide(client, keys["acme"], {"model": "research-preview", "capability": "generate"})
    assert decision["allow"] is False

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1)

    assert response.status_code == 409
    assert response.json["code"] == "decision_not_allowed"
    assert usage_rows(session) == []


def test_an_unknown_decision_id_is_not_found(client, keys):
    response = report(client, keys["pep"], decision_id="0" * 26, input_tokens=1, output_tokens=1)

    assert response.status_code == 404
    assert response.json["code"] == "decision_not_found"


def test_a_model_other_than_the_decisions_is_refused(client, session, keys):
    decision = decide(client, keys["acme"])

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1, model="frontier-1")

    assert response.status_code == 409
    assert response.json["code"] == "model_mismatch"
    assert usage_rows(session) == []


@pytest.mark.parametrize("change", [
    {"input_tokens": -1},
    {"output_tokens": -5},
    {"input_tokens": 10**9 + 1},
    {"output_tokens": 2**62},
    {"input_tokens": 1.5},
    {"input_tokens": True},
    {"input_tokens": "10"},
    {"cost": "-0.01"},
    {"cost": -1},
    {"cost": "1000001"},
    {"cost": "1e400"},
    {"cost": "NaN"},
    {"cost": "Infinity"},
    {"cost": "ten dollars"},
    {"cost": None},
    {"cost": True},
    {"model": None},
    {"decision_id": 12},
    {"decision_id": "x" * 27},
], ids=repr)
def test_bad_figures_are_a_400_and_nothing_is_stored(client, session, keys, change):
    decision = decide(client, keys["acme"])
    body = {"decision_id": decision["decision_id"], "input_tokens": 1, "output_tokens": 1, **change}

    response = client.post("/v1/usage", json=body, headers=bearer(keys["pep"]))

    assert response.status_code == 400
    assert response.json["code"] in {"invalid_usage", "invalid_field"}
    assert response.json["message"]
    assert usage_rows(session) == []


@pytest.mark.parametrize("body", [b"", b"[1]", b"{", b'{"decision_id": "a"}'])
def test_malformed_bodies_are_a_400(client, keys, body):
    response = client.post("/v1/usage", data=body, headers={**bearer(keys["pep"]),
                                                          "Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json["code"] in {"malformed_json", "missing_field"}


def test_a_body_over_the_limit_is_a_413(client, keys):
    response = client.post("/v1/usage", json={"decision_id": "a", "pad": "x" * 8192},
                           headers=bearer(keys["pep"]))

    assert response.status_code == 413


def test_without_a_key_it_is_a_401_whatever_the_body(client):
    response = client.post("/v1/usage", data=b"not json")

    assert response.status_code == 401
    assert response.json["code"] == "key_missing"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="govern"'


def test_an_admin_key_cannot_report_usage(client, session, keys):
    decision = decide(client, keys["acme"])
    admin = make_user_key(session, "alice2")

    response = report(client, admin, decision_id=decision["decision_id"], input_tokens=1, output_tokens=1)

    assert response.status_code == 401
    assert response.json["code"] == "key_wrong_kind"
    assert usage_rows(session) == []


def test_a_revoked_pep_key_is_refused_at_once(client, session, keys):
    decision = decide(client, keys["acme"])
    revoke_key(session, keys["pep"][:16], actor="test")

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1)

    assert response.status_code == 401
    assert response.json["code"] == "key_revoked"
    assert session.execute(select(func.count()).select_from(Usage)).scalar_one() == 0


def test_a_suspended_pep_key_is_refused_at_once(client, session, keys):
    decision = decide(client, keys["acme"])
    update_key(session, keys["pep"][:16], actor="test", suspended=True)

    response = report(client, keys["pep"], decision_id=decision["decision_id"], input_tokens=1,
                      output_tokens=1)

    assert response.status_code == 401
    assert response.json["code"] == "key_suspended"
    assert usage_rows(session) == []
