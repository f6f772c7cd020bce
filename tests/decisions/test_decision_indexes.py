"""The explorer's filter shapes are answered from an index, never by reading the whole table:
EXPLAIN QUERY PLAN of the page query (filter, time window, cursor, newest first, LIMIT) names the
index it walks. On ten million rows (bench/decisions_bench.py) a full scan takes seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from govern.decisions.query import DecisionFilter, conditions, decision_select
from govern.models import Decision

# The plans are SQLite's (EXPLAIN QUERY PLAN); PostgreSQL plans its own way.
pytestmark = pytest.mark.sqlite_only

WINDOW = {"since": datetime(2030, 1, 1, tzinfo=UTC), "until": datetime(2030, 2, 1, tzinfo=UTC)}


def plan(session: Session, where: DecisionFilter) -> str:
    query = (decision_select(where).where(Decision.decision_id < "0700000000000000000000000a")
             .order_by(Decision.decision_id.desc()).limit(51))
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    rows = session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
    return "\n".join(row[-1] for row in rows)


FILTERED = [
    (DecisionFilter(org_id=3), "ix_decision_org_id_id"),
    (DecisionFilter(key_prefix="gvk_0123456789ab"), "ix_decision_key_prefix_id"),
    (DecisionFilter(tier="internal"), "ix_decision_tier_id"),
    (DecisionFilter(model="frontier-1"), "ix_decision_model_id"),
    (DecisionFilter(capability="fine_tune"), "ix_decision_capability_id"),
    (DecisionFilter(reason="tier_too_low"), "ix_decision_reason_id"),
    (DecisionFilter(org_id=3, **WINDOW), "ix_decision_org_id_id"),
    (DecisionFilter(key_prefix="gvk_0123456789ab", **WINDOW), "ix_decision_key_prefix_id"),
    (DecisionFilter(model="frontier-1", allow=False, **WINDOW), "ix_decision_model_id"),
    (DecisionFilter(reason="tier_too_low", **WINDOW), "ix_decision_reason_id"),
    (DecisionFilter(issuer="https://idp.example", subject="ada"), "ix_decision_subject_id"),
]


@pytest.mark.parametrize(("where", "index"), FILTERED,
                         ids=lambda value: value if isinstance(value, str) else None)
def test_a_filtered_page_searches_the_filters_index(session, where, index):
    found = plan(session, where)

    assert f"SEARCH decision USING INDEX {index} (" in found, found
    assert "decision_id<" in found or "decision_id>" in found, found  # the window and cursor are bounds
    assert "TEMP B-TREE" not in found, found  # already in order: no sort of the matches


@pytest.mark.parametrize("where", [DecisionFilter(), DecisionFilter(**WINDOW),
                                   DecisionFilter(allow=False, **WINDOW)],
                         ids=["no filter", "time window", "result in a time window"])
def test_time_windows_and_results_walk_the_primary_key_from_the_cursor(session, where):
    found = plan(session, where)

    assert "SEARCH decision USING INDEX sqlite_autoindex_decision_1 (decision_id" in found, found
    assert "TEMP B-TREE" not in found, found


def test_the_not_delivered_filter_searches_its_partial_index(session):
    # Marked rows are rare; walking the primary key for them would read the whole table.
    for where in (DecisionFilter(delivered=False), DecisionFilter(delivered=False, **WINDOW)):
        found = plan(session, where)

        assert "SEARCH decision USING INDEX ix_decision_undelivered (decision_id" in found, found
        assert "decision_id<" in found, found  # the cursor bounds the search
        assert "TEMP B-TREE" not in found, found


def test_the_dashboards_counts_per_tier_walk_the_primary_key(session):
    start = datetime(2030, 1, 1, tzinfo=UTC)
    query = (select(Decision.tier, func.count())
             .where(*conditions(DecisionFilter(since=start, until=start + timedelta(hours=1))))
             .group_by(Decision.tier))
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    found = "\n".join(row[-1] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)).all())

    walk = "SEARCH decision USING INDEX sqlite_autoindex_decision_1 (decision_id>? AND decision_id<?)"
    assert walk in found, found


def test_every_index_of_the_decision_table_is_one_a_plan_test_names():
    # An index no query needs still costs every commit of the decision log: add one with its test.
    tested = {index for _where, index in FILTERED} | {"ix_decision_undelivered"}
    assert {index.name for index in Decision.__table__.indexes} == tested
