"""GET /v1/decisions: the decision log for admins and auditors, filtered and paginated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from factories import add_models, make_key, make_signed_model, make_user_key
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from govern.governance.signoffs import reverse_sign_off

WWW_AUTHENTICATE = 'Bearer realm="govern"'
UNKNOWN_KEY = "gvk_000000000000_" + "A" * 43


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(client: FlaskClient, key: str, model: str, capability: str) -> str:
    """Make one check; returns its decision id."""
    response = client.post("/v1/check", json={"model": model, "capability": capability},
                           headers=bearer(key))
    assert response.status_code in (200, 401)
    return response.json["decision_id"]


def listed(client: FlaskClient, headers: dict[str, str], **query: Any) -> Any:
    response = client.get("/v1/decisions", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def ids(page: Any) -> list[str]:
    return [d["decision_id"] for d in page["decisions"]]


@dataclass
class Traffic:
    acme: str  # key of acme, tier verified
    globex: str  # key of globex, tier free
    acme_standard: str  # decision ids, in the order they were made
    acme_frontier: str
    globex_open: str
    globex_standard: str
    acme_tools: str
    stranger: str

    @property
    def all(self) -> list[str]:
        return [self.acme_standard, self.acme_frontier, self.globex_open, self.globex_standard,
                self.acme_tools, self.stranger]


@pytest.fixture
def traffic(client: FlaskClient, session: Session) -> Traffic:
    add_models(session)
    acme = make_key(session, "acme", tier="verified")
    globex = make_key(session, "globex", tier="free")
    return Traffic(
        acme=acme, globex=globex,
        acme_standard=ask(client, acme, "chat-standard", "generate"),  # allow
        acme_frontier=ask(client, acme, "frontier-1", "generate"),  # deny: tier too low
        globex_open=ask(client, globex, "open-7b", "generate"),  # allow
        globex_standard=ask(client, globex, "chat-standard", "generate"),  # deny: tier too low
        acme_tools=ask(client, acme, "open-7b", "tools"),  # allow
        stranger=ask(client, UNKNOWN_KEY, "chat-standard", "generate"),  # 401
    )


# -- who may read it -------------------------------------------------------------------------


def test_decisions_without_a_key_is_a_401(client):
    response = client.get("/v1/decisions")

    assert response.status_code == 401
    assert response.json["code"] == "key_missing"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_decisions_with_a_client_key_is_a_401(client, session):
    key = make_key(session, "acme", tier="internal")

    response = client.get("/v1/decisions", headers=bearer(key))

    assert response.status_code == 401
    assert response.json["code"] == "key_wrong_kind"


def test_decisions_for_a_user_without_admin_or_auditor_role_is_a_403(client, session):
    key = make_user_key(session, "rita", frozenset({"reviewer"}))

    response = client.get("/v1/decisions", headers=bearer(key))

    assert response.status_code == 403
    assert response.json["code"] == "role_required"


def test_admin_and_auditor_can_read_decisions(client, traffic, admin, auditor):
    assert sorted(ids(listed(client, admin))) == sorted(traffic.all)
    assert sorted(ids(listed(client, auditor))) == sorted(traffic.all)


# -- what a decision shows -------------------------------------------------------------------


def test_decision_shows_what_was_asked_and_answered(client, session, admin):
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    answer = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                         headers={**bearer(key), "X-Request-ID": "trace-7"}).json

    [decision] = listed(client, admin)["decisions"]

    assert decision["decision_id"] == answer["decision_id"]
    assert decision["request_id"] == "trace-7"
    assert decision["key_prefix"] == key[:16]
    assert (decision["tier"], decision["model"], decision["capability"]) == (
        "verified", "chat-standard", "generate")
    assert (decision["allow"], decision["reason"], decision["policy_version"]) == (
        True, "granted_by_tier", 2)
    assert isinstance(decision["org_id"], int)
    assert isinstance(decision["latency_us"], int)
    assert decision["created_at"]
    assert key[17:] not in str(decision)


def test_a_decision_names_the_sign_off_it_was_made_under_and_its_organisation(app, client, session,
                                                                              auditor):
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")
    app.extensions["govern.runtime"].get().refresh()
    under = ask(client, key, "gpt-x", "generate")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="risk")
    app.extensions["govern.runtime"].get().refresh()
    after = ask(client, key, "gpt-x", "generate")

    rows = {d["decision_id"]: d for d in listed(client, auditor)["decisions"]}

    assert (rows[under]["allow"], rows[under]["sign_off_id"], rows[under]["org_name"]) == (
        True, signed.id, "acme")
    assert (rows[after]["allow"], rows[after]["sign_off_id"], rows[after]["org_name"]) == (
        False, None, "acme")


def test_decisions_come_newest_first(client, traffic, admin):
    assert ids(listed(client, admin)) == list(reversed(traffic.all))


# -- filters ---------------------------------------------------------------------------------


def test_filter_by_key_prefix(client, traffic, admin):
    page = listed(client, admin, key_prefix=traffic.acme[:16])

    assert ids(page) == [traffic.acme_tools, traffic.acme_frontier, traffic.acme_standard]


def test_filter_by_key_prefix_finds_an_unknown_key(client, traffic, admin):
    assert ids(listed(client, admin, key_prefix="gvk_000000000000")) == [traffic.stranger]


def test_filter_by_model(client, traffic, admin):
    page = listed(client, admin, model="chat-standard")

    assert ids(page) == [traffic.stranger, traffic.globex_standard, traffic.acme_standard]


def test_filter_by_capability(client, traffic, admin):
    assert ids(listed(client, admin, capability="tools")) == [traffic.acme_tools]


def test_filter_by_result_allow(client, traffic, admin):
    page = listed(client, admin, result="allow")

    assert ids(page) == [traffic.acme_tools, traffic.globex_open, traffic.acme_standard]
    assert all(d["allow"] is True for d in page["decisions"])


def test_filter_by_result_deny(client, traffic, admin):
    page = listed(client, admin, result="deny")

    assert ids(page) == [traffic.stranger, traffic.globex_standard, traffic.acme_frontier]
    assert [d["reason"] for d in page["decisions"]] == ["key_unknown", "tier_too_low", "tier_too_low"]


def test_filters_combine(client, traffic, admin):
    page = listed(client, admin, key_prefix=traffic.globex[:16], model="chat-standard", result="deny")

    assert ids(page) == [traffic.globex_standard]


def test_filter_matching_nothing_gives_an_empty_last_page(client, traffic, admin):
    assert listed(client, admin, model="no-such-model") == {"decisions": [], "next_cursor": None}


def test_since_and_until_split_the_log_at_a_time(client, traffic, admin):
    by_id = {d["decision_id"]: d for d in listed(client, admin)["decisions"]}
    boundary = by_id[traffic.globex_open]["created_at"]

    later = listed(client, admin, since=boundary)
    earlier = listed(client, admin, until=boundary)

    assert ids(later) == [traffic.stranger, traffic.acme_tools, traffic.globex_standard,
                          traffic.globex_open]
    assert ids(earlier) == [traffic.acme_frontier, traffic.acme_standard]


def test_since_and_until_together_select_a_window(client, traffic, admin):
    by_id = {d["decision_id"]: d for d in listed(client, admin)["decisions"]}

    window = listed(client, admin, since=by_id[traffic.acme_frontier]["created_at"],
                    until=by_id[traffic.acme_tools]["created_at"])

    assert ids(window) == [traffic.globex_standard, traffic.globex_open, traffic.acme_frontier]


def test_since_in_the_future_gives_nothing(client, traffic, admin):
    assert listed(client, admin, since="2999-01-01T00:00:00Z")["decisions"] == []


# -- pagination ------------------------------------------------------------------------------


def test_walking_every_page_sees_every_decision_once_newest_first(client, session, admin):
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    made = [ask(client, key, "chat-standard", "generate") for _ in range(9)]
    batch = client.post("/v1/check/batch", headers=bearer(key),
                        json={"checks": [{"model": "open-7b", "capability": "generate"}] * 14})
    made += [r["decision_id"] for r in batch.json["results"]]

    seen: list[str] = []
    created: list[datetime] = []
    pages = 0
    cursor = None
    while True:
        query = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = listed(client, admin, **query)
        pages += 1
        assert len(page["decisions"]) <= 4
        seen += ids(page)
        created += [datetime.fromisoformat(d["created_at"]) for d in page["decisions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"

    assert pages == 6  # 23 decisions, 4 a page
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == set(made)
    assert seen == sorted(seen, reverse=True)
    assert created == sorted(created, reverse=True)
    assert seen[-9:] == list(reversed(made[:9]))  # the single checks came first, so come last


def test_page_exactly_filled_by_the_last_decisions_has_no_next_cursor(client, traffic, admin):
    first = listed(client, admin, limit=3)
    second = listed(client, admin, limit=3, cursor=first["next_cursor"])

    assert ids(first) == [traffic.stranger, traffic.acme_tools, traffic.globex_standard]
    assert ids(second) == [traffic.globex_open, traffic.acme_frontier, traffic.acme_standard]
    assert second["next_cursor"] is None


def test_pagination_keeps_the_filter(client, traffic, admin):
    first = listed(client, admin, result="allow", limit=2)
    second = listed(client, admin, result="allow", limit=2, cursor=first["next_cursor"])

    assert ids(first) == [traffic.acme_tools, traffic.globex_open]
    assert ids(second) == [traffic.acme_standard]
    assert second["next_cursor"] is None


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", ""])
def test_invalid_limit_is_a_400(client, admin, limit):
    response = client.get("/v1/decisions", query_string={"limit": limit}, headers=admin)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def test_largest_limit_is_accepted(client, admin):
    assert client.get("/v1/decisions?limit=1000", headers=admin).status_code == 200


@pytest.mark.parametrize("result", ["maybe", "ALLOW", "true"])
def test_invalid_result_is_a_400(client, admin, result):
    response = client.get("/v1/decisions", query_string={"result": result}, headers=admin)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["yesterday", "0001-01-01T00:00:00+01:00"])
def test_unreadable_time_is_a_400(client, admin, name, value):
    response = client.get("/v1/decisions", query_string={name: value}, headers=admin)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"
