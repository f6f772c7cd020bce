"""Storing decision records: one transaction per group commit, and when the database refuses a
group, each request's records alone, so one bad request cannot sink the others of its group."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DataError, IntegrityError

from govern.decisions import metrics
from govern.models import Decision
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.05

# One request's records; a group commit stores several at once.
Group = Sequence[DecisionRecord]

_INSERT = insert(Decision)


def _row(record: DecisionRecord) -> dict[str, object]:
    return {
        "decision_id": record.decision_id,
        "created_at": datetime.fromtimestamp(record.created_at_us / 1e6, UTC),
        "request_id": record.request_id, "org_id": record.org_id, "key_prefix": record.key_prefix,
        "tier": record.tier, "model": record.model, "capability": record.capability,
        "allow": record.allow, "reason": record.reason, "policy_version": record.policy_version,
        "latency_us": record.latency_us, "pep_prefix": record.pep_prefix,
        "issuer": record.issuer, "subject": record.subject, "org_name": record.org_name,
        "sign_off_id": record.sign_off_id, "attempts": record.attempts,
    }


def _insert(engine: Engine, groups: Sequence[Group]) -> None:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(_INSERT, [_row(record) for group in groups for record in group])
    metrics.LOG_COMMIT_LATENCY.observe(time.perf_counter() - started)


def _insert_alone(engine: Engine, group: Group) -> bool:
    try:
        _insert(engine, [group])
        return True
    except Exception:
        log.exception("decision log refused %d rows", len(group))
        return False


def commit_groups(engine: Engine, groups: Sequence[Group]) -> list[bool]:
    """Commit `groups` in one transaction; say for each group whether its records are stored."""
    try:
        _insert(engine, groups)
        return [True] * len(groups)
    except (DataError, IntegrityError):
        log.exception("decision log group commit refused; committing its requests one by one")
        return [_insert_alone(engine, group) for group in groups]
    except Exception:
        log.exception("decision log commit of %d requests failed", len(groups))
        time.sleep(RETRY_PAUSE)  # a failing database should not be hammered in a tight loop
        return [False] * len(groups)
