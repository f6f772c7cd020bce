"""The fills of the scale benchmark (bench/scale_bench.py, bench/decisions_bench.py): keys added in
bulk authenticate through the service with their organisation's tier, and decision rows added in
bulk are read by the decision explorer's service, the log's indexes intact."""

from __future__ import annotations

import importlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from factories import add_models, make_key

from govern.decisions.query import DecisionFilter, list_decisions

pytestmark = pytest.mark.sqlite_only  # the benchmark fills SQLite files directly

BENCH = Path(__file__).resolve().parent.parent / "bench"
TIERS = ["free", "verified", "trusted", "internal"]


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[ModuleType, ModuleType]]:
    """(scale_bench, decisions_bench), imported as the scripts import each other: from bench/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))
        yield importlib.import_module("scale_bench"), importlib.import_module("decisions_bench")


def connect(instance: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(instance / "govern.db", isolation_level=None))


def test_keys_added_in_bulk_authenticate_with_their_organisations_tier(client, session, instance, bench):
    scale_bench, _ = bench
    add_models(session)
    issued = make_key(session, "acme", tier="verified")

    with connect(instance) as conn:
        samples = scale_bench.add_keys(conn, 45, TIERS)
        keys_per_org = Counter(org for (org,) in conn.execute(
            "SELECT org_id FROM api_key WHERE name = 'scale bench'"))
        org_tiers = {tier for (tier,) in conn.execute(
            "SELECT tier FROM organisation WHERE name LIKE 'scale-%'")}

    assert sorted(keys_per_org.values()) == [5, 10, 10, 10, 10]
    assert org_tiers == set(TIERS)
    assert sorted(samples) == sorted(TIERS)
    for tier, key in samples.items():
        response = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                               headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.json
        assert response.json["tier"] == tier
        assert response.json["allow"] is (tier != "free")
    # The key issued the normal way before the bulk insert still works beside them.
    response = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                           headers={"Authorization": f"Bearer {issued}"})
    assert response.status_code == 200
    assert response.json["tier"] == "verified"


def test_a_bulk_added_key_with_a_wrong_secret_is_refused(client, session, instance, bench):
    scale_bench, _ = bench
    add_models(session)
    with connect(instance) as conn:
        (key,) = scale_bench.add_keys(conn, 1, TIERS).values()
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")

    response = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                           headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401
    assert response.json["code"] == "key_unknown"


def test_decision_rows_added_in_bulk_name_the_keys_and_are_read_by_the_explorer(session, instance, bench):
    scale_bench, decisions_bench = bench
    with connect(instance) as conn:
        scale_bench.add_keys(conn, 30, TIERS)
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'decision' "
                               "ORDER BY name").fetchall()
        decisions_bench.add_decisions(conn, 2_000, scale_bench.organisations(conn),
                                      start=datetime(2031, 3, 1, tzinfo=UTC), days=10)
        count, first, last = conn.execute(
            "SELECT count(*), min(created_at), max(created_at) FROM decision").fetchone()
        # Each row names a real key of its organisation, with the organisation's tier.
        matching = conn.execute(
            "SELECT count(*) FROM decision JOIN api_key ON api_key.prefix = decision.key_prefix "
            "JOIN organisation ON organisation.id = api_key.org_id "
            "WHERE organisation.id = decision.org_id AND organisation.tier = decision.tier").fetchone()[0]
        indexes_after = conn.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'decision' "
                                     "ORDER BY name").fetchall()

    assert count == 2_000
    assert matching == 2_000
    assert "2031-03-01" <= first < last < "2031-03-11"
    assert indexes_after == indexes
    page, cursor = list_decisions(session, DecisionFilter(since=datetime(2031, 3, 1, tzinfo=UTC)), limit=50)
    assert len(page) == 50
    assert cursor is not None
    assert [row["decision_id"] for row in page] == sorted((row["decision_id"] for row in page), reverse=True)
    assert all(row["created_at"].startswith("2031-03-") for row in page)
