"""Storing decision records: one transaction per group commit, and when the database refuses a
group, each request's records alone, so one bad request cannot sink the others of its group.

A commit also carries the ids of earlier decisions whose requests answered 503 after their commit
was under way: it marks those rows not delivered in the same transaction (a row that never landed
is simply not there to mark).

The rows go in through one prepared INSERT on the bare DB-API connection from the engine's pool, with
nothing per row but the record's fields and its time: SQLAlchemy's per-row parameter processing cost
the writer process about a third of its CPU per group commit (bench/RESULTS.md, 2026-12-02), and its
Connection and transaction objects a further fifth (2026-12-04)."""

from __future__ import annotations

import dataclasses
import logging
import operator
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from functools import cache
from typing import NamedTuple

from sqlalchemy import Dialect, Engine

from govern.decisions import metrics
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.05

# One request's records; a group commit stores several at once.
Group = Sequence[DecisionRecord]

# A record's fields in order, as one tuple (a single C call: this runs for every decision).
FIELDS = operator.attrgetter(*(field.name for field in dataclasses.fields(DecisionRecord)))
_NAMES = [field.name for field in dataclasses.fields(DecisionRecord)]
_WIDTH = len(_NAMES)
_CREATED_AT = _NAMES.index("created_at_us")  # the column is created_at, a timestamp
_COLUMNS = ", ".join("created_at" if name == "created_at_us" else name for name in _NAMES)


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


@cache
def _stamp(backend: str) -> Callable[[int], object]:
    """The driver's value of a record's time (microseconds since the epoch, UTC): SQLite stores the
    text SQLAlchemy's DateTime writes, so the ORM reads both alike; PostgreSQL takes a datetime."""
    if backend == "sqlite":
        epoch = datetime(1970, 1, 1)
        return lambda us: (epoch + timedelta(microseconds=us)).isoformat(" ", "microseconds")
    aware_epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return lambda us: aware_epoch + timedelta(microseconds=us)


@cache
def _statements(paramstyle: str) -> tuple[str, str]:
    """The INSERT of a row and the UPDATE that marks a decision not delivered, in the driver's style."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return (f"INSERT INTO decision ({_COLUMNS}) VALUES ({', '.join([mark] * _WIDTH)})",
            f"UPDATE decision SET delivered = {mark} WHERE decision_id = {mark}")


class Refused(Exception):
    """The database refused the rows (a constraint or a value): retrying them cannot help."""


def _rows(dialect: Dialect, groups: Sequence[Group]) -> list[tuple[object, ...]]:
    stamp = _stamp(dialect.name)
    return [(*fields[:_CREATED_AT], stamp(fields[_CREATED_AT]), *fields[_CREATED_AT + 1:])
            for group in groups for fields in map(FIELDS, group)]


def _insert(engine: Engine, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> None:
    """One transaction; raises Refused when the database refuses it, anything else when it fails."""
    started = time.perf_counter()
    rows = _rows(engine.dialect, groups)
    insert, mark = _statements(engine.dialect.paramstyle)
    dbapi = engine.dialect.loaded_dbapi
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        if rows:
            cursor.executemany(insert, rows)
        if undelivered:
            cursor.executemany(mark, [(False, decision_id) for decision_id in undelivered])
        conn.commit()
    except (dbapi.IntegrityError, dbapi.DataError) as error:
        try:
            conn.rollback()
        except Exception:
            conn.invalidate()
        raise Refused(error) from error
    except BaseException:
        conn.invalidate()  # the state of its transaction is unknown: the next commit starts afresh
        raise
    finally:
        conn.close()
    metrics.LOG_COMMIT_LATENCY.observe(time.perf_counter() - started)


def _insert_alone(engine: Engine, group: Group) -> Landed:
    try:
        _insert(engine, [group])
        return Landed.YES
    except Refused:
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
    except Refused:
        log.exception("decision log group commit refused; committing its requests one by one")
        marked = not undelivered or _mark_alone(engine, undelivered)
        return Stored([_insert_alone(engine, group) for group in groups], marked)
    except Exception:
        log.exception("decision log commit of %d requests failed", len(groups))
        time.sleep(RETRY_PAUSE)  # a failing database should not be hammered in a tight loop
        return Stored([Landed.UNKNOWN] * len(groups), not undelivered)
