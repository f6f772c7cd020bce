"""Budgets: tokens and cost per organisation per UTC day and month, reserved by checks and settled
by usage reports, in the shared counter store; and /v1/check refusing past one."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import ACTOR, add_models, make_key, make_pep_key
from sqlalchemy import select

from govern.decisions.budgets import BudgetMeter, window
from govern.decisions.ratelimit import Counters
from govern.errors import Conflict, PolicyRejected
from govern.identity.organisations import delete_org, find_org, update_org
from govern.models import AuditEvent, Decision
from govern.policy.budgets import Budget, cost_text
from govern.policy.document import parse_document
from govern.policy.store import change_policy, current_policy

BASE = {"tiers": ["free", "verified"], "capabilities": ["generate"],
        "model_groups": {"open": ["open-7b"], "frontier": ["frontier-1"]}}


@pytest.fixture
def counters(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = Counters(f"mmap://{tmp_path / 'ratelimits.counters'}")
    yield made
    made.close()


@pytest.fixture
def meter(counters: Counters) -> BudgetMeter:
    return BudgetMeter(counters)


# -- the policy section ----------------------------------------------------------------------------
def test_budgets_are_read_and_written_back():
    raw = {**BASE, "budgets": {"free": [{"period": "day", "tokens": 1000},
                                        {"period": "month", "cost": "12.50", "model_group": "frontier"}]}}
    document = parse_document(raw)
    assert document.budgets["free"] == (Budget("day", tokens=1000),
                                        Budget("month", cost_nanos=12_500_000_000, model_group="frontier"))
    assert document.as_dict()["budgets"] == {"free": [
        {"period": "day", "tokens": 1000}, {"period": "month", "cost": "12.5", "model_group": "frontier"}]}
    assert parse_document(document.as_dict()) == document


@pytest.mark.parametrize(("budgets", "message"), [
    ({"gold": [{"period": "day", "tokens": 1}]}, "unknown tier 'gold'"),
    ({"free": [{"period": "week", "tokens": 1}]}, "period must be one of day, month"),
    ({"free": [{"period": "day"}]}, "must set tokens and/or cost"),
    ({"free": [{"period": "day", "tokens": 0}]}, "tokens must be a whole number"),
    ({"free": [{"period": "day", "cost": "-1"}]}, "cost must be a decimal number above 0"),
    ({"free": [{"period": "day", "cost": "lots"}]}, "cost must be a decimal number"),
    ({"free": [{"period": "day", "tokens": 5, "model_group": "secret"}]}, "unknown model group 'secret'"),
    ({"free": [{"period": "day", "tokens": 5}, {"period": "day", "tokens": 9}]}, "tokens-day more than once"),
    ({"free": [{"period": "day", "tokens": 5, "per": "key"}]}, "unknown fields: per"),
    ({"free": {"period": "day"}}, "must be a list of budgets"),
])
def test_faulty_budgets_are_refused(budgets, message):
    with pytest.raises(PolicyRejected, match=message):
        parse_document({**BASE, "budgets": budgets})


def test_a_cost_is_exact_in_billionths():
    assert cost_text(1) == "0.000000001"
    assert cost_text(25_000_000_000) == "25"


def test_windows_are_the_utc_day_and_month():
    at = datetime(2026, 2, 27, 13, 5, tzinfo=UTC).timestamp()
    assert window("day", at) == (datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC))
    assert window("month", at) == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


# -- the meter -------------------------------------------------------------------------------------
TOKENS_100 = (Budget("day", tokens=100),)


def test_reserve_holds_the_estimate_and_refuses_one_that_does_not_fit(meter):
    now = time.time()
    assert meter.reserve(TOKENS_100, 1, "open", "d1", 60, now) is None
    spent = meter.reserve(TOKENS_100, 1, "open", "d2", 60, now)
    assert spent is not None and spent.budget == TOKENS_100[0]
    assert spent.resets_at == window("day", now)[1].timestamp()
    assert meter.used(TOKENS_100[0], 1, now) == (60, 0)  # the refused estimate held nothing


def test_a_report_replaces_the_estimate_with_what_was_used(meter):
    now = time.time()
    meter.reserve(TOKENS_100, 1, "open", "d1", 60, now)
    meter.settle(TOKENS_100, 1, "open", "d1", now, 25, None)
    assert meter.used(TOKENS_100[0], 1, now) == (25, 0)
    assert meter.reserve(TOKENS_100, 1, "open", "d2", 70, now) is None  # 25 + 70 fits in 100
    meter.settle(TOKENS_100, 1, "open", "d2", now, 90, None)  # it used more than it said
    assert meter.used(TOKENS_100[0], 1, now) == (115, 0)
    assert meter.reserve(TOKENS_100, 1, "open", "d3", 0, now) is not None  # spent: even no estimate


def test_organisations_and_model_groups_are_counted_apart(meter):
    now = time.time()
    frontier = (Budget("day", tokens=10, model_group="frontier"),)
    assert meter.reserve(frontier, 1, "frontier", "a", 10, now) is None
    assert meter.reserve(frontier, 1, "frontier", "b", 1, now) is not None
    assert meter.reserve(frontier, 1, "open", "c", 1_000, now) is None  # another group: no budget
    assert meter.reserve(frontier, 2, "frontier", "d", 10, now) is None  # another organisation


def test_concurrent_reservations_never_overspend(meter):
    now = time.time()
    results: list[bool] = []
    lock = threading.Lock()

    def reserve(index: int) -> None:
        ok = meter.reserve(TOKENS_100, 1, "open", f"d{index}", 7, now) is None
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 40
    assert results.count(True) == 14  # 14 x 7 = 98; a 15th would pass 100
    assert meter.used(TOKENS_100[0], 1, now)[0] == 98


def test_cost_budgets_refuse_once_spent_and_thresholds_are_crossed_once(meter):
    now = time.time()
    budget = (Budget("month", cost_nanos=10_000_000_000),)  # 10.00
    crossings = [meter.settle(budget, 1, "open", f"d{i}", now, 0, 3_000_000_000) for i in range(4)]
    assert [[c.percent for c in crossed] for crossed in crossings] == [[], [], [80], [100]]
    assert (crossings[3][0].used, crossings[3][0].limit, crossings[3][0].unit) == (
        12_000_000_000, 10_000_000_000, "cost")
    assert meter.reserve(budget, 1, "open", "next", 0, now) is not None


# -- /v1/check -------------------------------------------------------------------------------------
OPEN_GENERATE = {"model": "open-7b", "capability": "generate"}


def test_check_reserves_max_tokens_and_refuses_past_the_budget(client, session):
    add_models(session)
    change_policy(session, lambda raw: raw.update(budgets={"free": [{"period": "day", "tokens": 1000}]}),
                  actor=ACTOR, comment="budgets")
    key = make_key(session, "thrifty", tier="free")
    headers = {"Authorization": f"Bearer {key}"}

    def ask(max_tokens: int) -> dict:  # type: ignore[type-arg]
        return client.post("/v1/check", json={**OPEN_GENERATE, "context": {"max_tokens": max_tokens}},
                           headers=headers).json

    first, second, third = ask(600), ask(600), ask(400)
    assert (first["allow"], second["allow"], third["allow"]) == (True, False, True)
    assert second["reason"] == "budget_exhausted"
    assert second["budget"]["name"] == "tokens-day"
    assert datetime.fromisoformat(second["budget"]["resets_at"]) == window("day", time.time())[1]
    row = session.execute(select(Decision).where(Decision.decision_id == second["decision_id"])).scalar_one()
    assert (row.allow, row.reason) == (False, "budget_exhausted")
    # A second key of the same organisation draws on the same budget.
    other = make_key(session, "thrifty")
    refused = client.post("/v1/check", json={**OPEN_GENERATE, "context": {"max_tokens": 1}},
                          headers={"Authorization": f"Bearer {other}"}).json
    assert refused["reason"] == "budget_exhausted"


@pytest.mark.parametrize("max_tokens", [-1, "ten", 10**10, True])
def test_a_bad_estimate_is_a_400(client, session, max_tokens):
    add_models(session)
    key = make_key(session, "thrifty", tier="free")
    response = client.post("/v1/check", json={**OPEN_GENERATE, "context": {"max_tokens": max_tokens}},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def test_usage_reports_settle_the_budget_once_and_record_its_thresholds(client, session):
    add_models(session)
    change_policy(session, lambda raw: raw.update(budgets={"free": [{"period": "day", "tokens": 100}]}),
                  actor=ACTOR, comment="budgets")
    key = make_key(session, "thrifty", tier="free")
    pep = {"Authorization": f"Bearer {make_pep_key(session)}"}

    def check(max_tokens: int) -> dict:  # type: ignore[type-arg]
        return client.post("/v1/check", json={**OPEN_GENERATE, "context": {"max_tokens": max_tokens}},
                           headers={"Authorization": f"Bearer {key}"}).json

    def report(decision_id: str, tokens: int) -> int:
        return client.post("/v1/usage", headers=pep, json={
            "decision_id": decision_id, "input_tokens": tokens, "output_tokens": 0}).status_code

    first = check(50)
    assert report(first["decision_id"], 85) == 201  # it used more than it reserved: 85 counted
    assert report(first["decision_id"], 85) == 200  # sent again: not counted twice
    assert check(20)["reason"] == "budget_exhausted"  # 85 + 20 would pass 100
    second = check(10)
    assert second["allow"] is True
    assert report(second["decision_id"], 20) == 201  # 105: past 100
    assert check(0)["reason"] == "budget_exhausted"
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "budget.threshold")
                             .order_by(AuditEvent.id)).scalars().all()
    assert [(e.after["percent"], e.after["used"], e.after["decision_id"]) for e in events] == [
        (80, 85, first["decision_id"]), (100, 105, second["decision_id"])]
    assert events[0].target.startswith("org:") and "(thrifty)" in events[0].target


# -- budgets of one organisation --------------------------------------------------------------------
def test_an_organisations_budget_replaces_its_tiers_of_the_same_name_and_adds_the_rest():
    document = parse_document({**BASE, "budgets": {"free": [
        {"period": "day", "tokens": 1000}, {"period": "month", "cost": "5"}]},
        "organisation_budgets": {"bigco": [{"period": "day", "tokens": 9000},
                                           {"period": "day", "tokens": 100, "model_group": "frontier"}]}})
    five = Budget("month", cost_nanos=5 * 10**9)
    assert document.budgets_for("free", "bigco") == (
        five, Budget("day", 9000), Budget("day", 100, model_group="frontier"))
    assert document.budgets_for("free", "smallco") == (Budget("day", 1000), five)
    assert document.budgets_for("verified", "bigco") == (
        Budget("day", 9000), Budget("day", 100, model_group="frontier"))
    assert parse_document(document.as_dict()) == document


def test_check_counts_against_the_organisations_own_budget(client, session):
    add_models(session)
    big, small = make_key(session, "bigco", tier="free"), make_key(session, "smallco", tier="free")
    change_policy(session, lambda raw: raw.update(
        budgets={"free": [{"period": "day", "tokens": 1000}]},
        organisation_budgets={"bigco": [{"period": "day", "tokens": 3000}]}), actor=ACTOR, comment="budgets")

    def ask(key: str) -> dict:  # type: ignore[type-arg]
        return client.post("/v1/check", json={**OPEN_GENERATE, "context": {"max_tokens": 900}},
                           headers={"Authorization": f"Bearer {key}"}).json

    assert [ask(big)["allow"] for _ in range(4)] == [True, True, True, False]  # 2700 of 3000, then no
    assert [ask(small)["allow"] for _ in range(2)] == [True, False]  # 900 of 1000, then no
    # A second key of bigco shares bigco's budget: nothing left for it either.
    assert ask(make_key(session, "bigco"))["reason"] == "budget_exhausted"


def test_organisation_budgets_name_organisations_that_exist_and_hold_them(session):
    add_models(session)
    versions = current_policy(session).version
    with pytest.raises(PolicyRejected, match="unknown organisation ghostco") as refused:
        change_policy(session, lambda raw: raw.update(organisation_budgets={
            "ghostco": [{"period": "day", "tokens": 1}]}), actor=ACTOR, comment="typo")
    assert refused.value.code == "unknown_organisation"
    assert current_policy(session).version == versions
    make_key(session, "bigco", tier="free")
    change_policy(session, lambda raw: raw.update(organisation_budgets={
        "bigco": [{"period": "day", "tokens": 1}]}), actor=ACTOR, comment="budget")
    # Renamed or deleted, bigco would leave its budget behind for whoever takes the name next.
    for change in (lambda: update_org(session, "bigco", actor=ACTOR, name="bigco-renamed"),
                   lambda: delete_org(session, "bigco", actor=ACTOR)):
        with pytest.raises(Conflict) as held:
            change()
        assert held.value.code == "org_in_policy"
        session.rollback()
    assert find_org(session, "bigco").name == "bigco"
    update_org(session, "bigco", actor=ACTOR, tier="verified")  # other changes go ahead
