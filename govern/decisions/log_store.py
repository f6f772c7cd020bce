"""Storing decision records: one transaction per group commit, and when the database refuses a
group, each request's records alone, so one bad request cannot sink the others of its group.

A commit also carries the ids of earlier decisions whose requests answered 503 after their commit
was under way: it marks those rows not delivered in the same transaction (a row that never landed
is simply not there to mark)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.exc import DataError, IntegrityError

from govern.decisions import metrics
from govern.models import Decision
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.05

# One request's records; a group commit stores several at once.
Group = Sequence[DecisionRecord]

_INSERT = insert(Decision)
_MARK = (update(Decision).where(Decision.decision_id == bindparam("undelivered_id"))
         .values(delivered=False))


class Landed(IntEnum):
    """Whether a group's records are in the database after a commit."""

    NO = 0  # refused or rolled back: certainly not stored
    YES = 1
    UNKNOWN = 2  # the commit failed in a way that may still have stored them (a lost connection)


class Stored(NamedTuple):
    """What a commit stored: for each group whether its records landed, and whether the
    not-delivered marks it carried are stored."""

    groups: list[Landed]
    marked: bool


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


def _insert(engine: Engine, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> None:
    started = time.perf_counter()
    rows = [_row(record) for group in groups for record in group]
    with engine.begin() as conn:
        if rows:
            conn.execute(_INSERT, rows)
        if undelivered:
            conn.execute(_MARK, [{"undelivered_id": decision_id} for decision_id in undelivered])
    metrics.LOG_COMMIT_LATENCY.observe(time.perf_counter() - started)


def _insert_alone(engine: Engine, group: Group) -> Landed:
    try:
        _insert(engine, [group])
        return Landed.YES
    except (DataError, IntegrityError):
        log.exception("decision log refused %d rows", len(group))
        return Landed.NO
    except Exception:
        log.exception("decision log commit of %d rows failed", len(group))
        return Landed.UNKNOWN


def _mark_alone(engine: Engine, undelivered: Sequence[str]) -> bool:
    try:
        _insert(engine, [], undelivered)
        return True
    except Exception:
        log.exception("decision log could not mark %d decisions not delivered", len(undelivered))
        return False


def commit_groups(engine: Engine, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> Stored:
    """Commit `groups`, and mark the decisions `undelivered` not delivered, in one transaction."""
    try:
        _insert(engine, groups, undelivered)
        return Stored([Landed.YES] * len(groups), True)
    except (DataError, IntegrityError):
        log.exception("decision log group commit refused; committing its requests one by one")
        marked = not undelivered or _mark_alone(engine, undelivered)
        return Stored([_insert_alone(engine, group) for group in groups], marked)
    except Exception:
        log.exception("decision log commit of %d requests failed", len(groups))
        time.sleep(RETRY_PAUSE)  # a failing database should not be hammered in a tight loop
        return Stored([Landed.UNKNOWN] * len(groups), not undelivered)
