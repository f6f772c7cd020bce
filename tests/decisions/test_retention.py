"""Retention: `govern decisions purge` deletes decisions older than the cutoff in batches, leaves
newer ones, and records range, row count and the SHA-256 of the purged rows in the audit trail."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from factories import insert_decisions, report_usage
from sqlalchemy import func, select

from govern.audit.trail import verify_chain
from govern.decisions.retention import purge_decisions
from govern.models import AuditEvent, Decision, Usage

OLD = datetime(2029, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2029, 1, 1, 0, 0, 7, tzinfo=UTC)


def remaining(session) -> list[str]:
    return list(session.execute(select(Decision.decision_id).order_by(Decision.decision_id)).scalars())


def purge_events(session) -> list[AuditEvent]:
    return list(session.execute(select(AuditEvent).where(AuditEvent.action == "decisions.purge")).scalars())


def jsonl(decision_id: str, second: int) -> bytes:
    """A purged row as the export (and so the digest) encodes it."""
    return (f'{{"decision_id":"{decision_id}","created_at":"2029-01-01T00:00:{second:02d}+00:00",'
            '"request_id":null,"org_id":1,"key_prefix":"gvk_0123456789ab","tier":"verified",'
            '"model":"chat-standard","capability":"generate","allow":true,"reason":"granted_by_tier",'
            '"policy_version":1,"latency_us":250,"pep_prefix":null,"issuer":null,"subject":null,'
            '"org_name":null,"sign_off_id":null,"attempts":1,"delivered":true,"input_tokens":null,'
            '"output_tokens":null,"cost":null}\n').encode()


def test_purge_deletes_only_decisions_before_the_cutoff_and_records_it(session):
    made = insert_decisions(session, 10, start=OLD)  # one a second: 00:00:00 .. 00:00:09

    report = purge_decisions(session, before=CUTOFF, actor="cli:ops", batch=3)

    assert remaining(session) == made[7:]
    digest = hashlib.sha256(b"".join(jsonl(made[n], n) for n in range(7))).hexdigest()
    assert (report.rows, report.sha256, report.complete) == (7, digest, True)
    [event] = purge_events(session)
    assert (event.actor, event.target) == ("cli:ops", "decisions")
    assert event.after == {"before": "2029-01-01T00:00:07+00:00", "rows": 7, "sha256": digest,
                           "first_decision_id": made[0], "last_decision_id": made[6], "complete": True}
    assert verify_chain(session)[1] is None


def test_purge_takes_the_usage_of_the_purged_decisions_with_them(session):
    made = insert_decisions(session, 10, start=OLD)
    report_usage(session, made[2], 100, 20, "0.5")
    report_usage(session, made[8], 5, 1)

    report = purge_decisions(session, before=CUTOFF, actor="cli:ops")

    session.expire_all()
    assert list(session.execute(select(Usage.decision_id)).scalars()) == [made[8]]
    # The digest holds the purged usage, as the export made before the purge would.
    purged = [jsonl(made[n], n) for n in range(7)]
    purged[2] = purged[2].replace(b'"input_tokens":null,"output_tokens":null,"cost":null',
                                  b'"input_tokens":100,"output_tokens":20,"cost":"0.500000000"')
    assert report.sha256 == hashlib.sha256(b"".join(purged)).hexdigest()


def test_dry_run_deletes_nothing_and_records_nothing(session):
    made = insert_decisions(session, 10, start=OLD)

    report = purge_decisions(session, before=CUTOFF, actor="cli:ops", dry_run=True)

    assert remaining(session) == made
    assert report.rows == 7
    assert purge_events(session) == []


def test_purge_with_nothing_to_delete_still_records_the_run(session):
    insert_decisions(session, 3, start=CUTOFF)

    report = purge_decisions(session, before=CUTOFF, actor="cli:ops")

    assert report.rows == 0
    assert len(remaining(session)) == 3
    assert purge_events(session)[0].after["rows"] == 0  # type: ignore[index]


def test_purge_cli_uses_the_retention_window(govern, session, env, monkeypatch):
    now = datetime.now(UTC)
    insert_decisions(session, 4, start=now - timedelta(days=40), step=timedelta(days=1))  # 40..37 days
    kept = insert_decisions(session, 2, start=now - timedelta(days=5))
    monkeypatch.setenv("GOVERN_DECISION_RETENTION_DAYS", "30")

    dry = govern("decisions", "purge", "--dry-run")
    real = govern("decisions", "purge")

    assert dry.exit_code == 0 and real.exit_code == 0, dry.output + real.output
    assert re.match(r"^would delete 4 decision\(s\) made before ", dry.output)
    assert re.match(r"^deleted 4 decision\(s\) made before ", real.output)
    assert dry.output.splitlines()[1] == real.output.splitlines()[1]  # same rows, same digest
    session.expire_all()
    assert session.execute(select(func.count()).select_from(Decision)).scalar_one() == len(kept)


def test_purge_cli_with_a_date(govern, session):
    insert_decisions(session, 3, start=datetime(2028, 12, 31, 23, 59, 58, tzinfo=UTC))  # 58, 59, 00

    result = govern("decisions", "purge", "--before", "2029-01-01")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted 2 decision(s) made before 2029-01-01T00:00:00+00:00 (")


@pytest.mark.parametrize("before", ["yesterday", "2029-13-01"])
def test_purge_cli_refuses_an_unreadable_date(govern, before):
    result = govern("decisions", "purge", "--before", before)

    assert result.exit_code == 1
    assert "ISO 8601" in result.output
