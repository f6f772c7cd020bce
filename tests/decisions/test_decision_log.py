"""The group-commit writer: records committed before the answer, and none for a call that gave up;
in the worker itself or through the machine's writer process. A row that lands after its request
answered 503 is marked not delivered."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from databases import decision_log_locked
from sqlalchemy import func, select

from govern.database import writers_take_turns
from govern.decisions.log import DecisionLog, DecisionLogUnavailable, Writer
from govern.decisions.log_store import Group, Landed, Stored, commit_groups
from govern.decisions.log_writer import WriterClient, WriterProcess
from govern.extensions import db
from govern.models import Decision
from govern.types import DecisionRecord


def record(decision_id: str) -> DecisionRecord:
    return DecisionRecord(decision_id=decision_id, created_at_us=int(time.time() * 1e6),
                          request_id=None, org_id=1, key_prefix="gvk_000000000000", tier="free",
                          model="open-7b", capability="generate", allow=True,
                          reason="granted_by_tier", policy_version=1, latency_us=10)


def stored(ids: list[str]) -> set[str]:
    rows = db.session.execute(select(Decision.decision_id).where(Decision.decision_id.in_(ids)))
    return set(rows.scalars())


def delivered(ids: list[str]) -> dict[str, bool]:
    """decision id -> its delivered flag, for those of `ids` stored, read afresh."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(Decision.decision_id, Decision.delivered)
                            .where(Decision.decision_id.in_(ids)))
        return {decision_id: flag for decision_id, flag in rows}


MARK_BOUND = 10.0  # seconds a mark may take to follow its row in these tests


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + MARK_BOUND
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


class MachineWriter:
    """A writer process and one worker's connection to it, as `govern serve` runs them."""

    def __init__(self, reply_timeout: float = 5.0) -> None:
        self.process = WriterProcess(db.engine.url.render_as_string(hide_password=False))
        self.process.start()
        self.client = WriterClient(self.process.socket_path, reply_timeout=reply_timeout)

    def __call__(self, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> Stored:
        return self.client(groups, undelivered)

    @property
    def pid(self) -> int:
        pid = self.process.pid
        assert pid is not None
        return pid

    def commit_once_back(self, groups: Sequence[Group]) -> Stored:
        """Commit `groups` as soon as a writer answers again (its owner restarts it)."""
        deadline = time.monotonic() + MARK_BOUND
        while (result := self(groups)).groups != [Landed.YES] * len(groups) and time.monotonic() < deadline:
            time.sleep(0.1)
        return result

    def close(self) -> None:
        self.client.close()
        self.process.close()


@pytest.fixture(params=["thread", "process"])
def writer(app, request) -> Iterator[Writer]:
    if request.param == "thread":
        yield partial(commit_groups, db.engine)
        return
    machine = MachineWriter()
    yield machine
    machine.close()


def test_records_are_committed_before_record_returns(writer):
    log = DecisionLog(writer, queue_size=10, timeout=2.0)
    log.start()
    try:
        log.record([record("a" * 26), record("b" * 26)])
        assert stored(["a" * 26, "b" * 26]) == {"a" * 26, "b" * 26}
    finally:
        log.close()


def test_the_governance_state_of_a_record_is_stored(writer):
    log = DecisionLog(writer, queue_size=10, timeout=2.0)
    log.start()
    try:
        log.record([dataclasses.replace(record("t" * 26), org_name="acme", sign_off_id=7)])
        found = db.session.execute(select(Decision.org_name, Decision.sign_off_id)
                                   .where(Decision.decision_id == "t" * 26)).one()
        assert tuple(found) == ("acme", 7)
    finally:
        log.close()


def test_every_field_of_a_record_reads_back_as_it_was_given(writer):
    # The writer inserts through the bare DB-API: the ORM must read its times and flags exactly.
    moments = {"w" * 26: datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC),
               "z" * 26: datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC)}  # a whole second: no fraction
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    given = [dataclasses.replace(record(decision_id),
                                 created_at_us=(moment - epoch) // timedelta(microseconds=1),
                                 allow=decision_id == "w" * 26, pep_prefix="gvp_1", issuer="https://idp",
                                 subject="alice", org_name="acme", sign_off_id=3, attempts=4)
             for decision_id, moment in moments.items()]
    log = DecisionLog(writer, queue_size=10, timeout=2.0)
    log.start()
    try:
        log.record(given)
    finally:
        log.close()
    rows = {row.decision_id: row for row in db.session.execute(
        select(Decision).where(Decision.decision_id.in_(moments))).scalars()}
    for item in given:
        row = rows[item.decision_id]
        assert row.created_at == moments[item.decision_id]
        assert (row.allow, row.reason, row.pep_prefix, row.issuer, row.subject, row.org_name,
                row.sign_off_id, row.attempts, row.delivered) == (
            item.allow, item.reason, "gvp_1", "https://idp", "alice", "acme", 3, 4, True)
    # The explorer's time filters compare against the stored text on SQLite: a window finds them.
    inside = db.session.execute(select(func.count()).select_from(Decision).where(
        Decision.created_at >= datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC),
        Decision.created_at < datetime(2026, 3, 4, 5, 6, 8, 1, tzinfo=UTC))).scalar()
    assert inside == 2


@pytest.mark.sqlite_only
def test_a_record_whose_request_gave_up_is_never_written(app, instance: Path):
    log = DecisionLog(partial(commit_groups, db.engine), queue_size=10, timeout=0.3)
    log.start()
    lock = sqlite3.connect(instance / "govern.db", timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            log.record([record("claimed".ljust(26, "0"))])
            outcome["first"] = "committed"
        except DecisionLogUnavailable:
            outcome["first"] = "503"

    thread = threading.Thread(target=first)
    thread.start()
    thread.join(5)  # the writer took it and now waits on the lock; the caller gives up
    with pytest.raises(DecisionLogUnavailable):
        log.record([record("abandoned".ljust(26, "0"))])  # queued behind it, then given up
    lock.execute("ROLLBACK")
    lock.close()
    log.close()

    assert outcome["first"] == "503"
    # The claimed batch was already being committed when its caller gave up; the abandoned one
    # was never claimed, so no row claims an answer that was never given.
    assert stored(["claimed".ljust(26, "0"), "abandoned".ljust(26, "0")]) == {"claimed".ljust(26, "0")}
    assert db.session.execute(select(func.count()).select_from(Decision)).scalar_one() == 1
    # Its caller answered 503: nobody received it, and the log says so.
    assert delivered(["claimed".ljust(26, "0")]) == {"claimed".ljust(26, "0"): False}


def test_a_row_that_lands_after_its_request_answered_503_is_marked_not_delivered(writer, database_url):
    log = DecisionLog(writer, queue_size=10, timeout=0.3)
    log.start()
    on_time, late = "ontime".ljust(26, "0"), "late".ljust(26, "0")
    try:
        log.record([record(on_time)])
        # Handed to the writer at once; its commit waits on the lock past both timeouts.
        with decision_log_locked(database_url), pytest.raises(DecisionLogUnavailable, match="in time"):
            log.record([record(late)])
        # The lock is gone: the commit under way lands the row, and the mark follows it without
        # any further request to carry it.
        wait_for(lambda: delivered([late]) == {late: False})
        assert delivered([on_time, late]) == {on_time: True, late: False}
    finally:
        log.close()
    # The mark adds to the row and takes nothing from it: the allow stays on record, flagged.
    with db.engine.connect() as conn:
        kept = conn.execute(select(Decision.allow, Decision.reason, Decision.model)
                            .where(Decision.decision_id == late)).one()
    assert tuple(kept) == (True, "granted_by_tier", "open-7b")


def test_rows_of_decisions_answered_before_they_were_logged_are_never_marked(app, database_url):
    # Aggregates of refused attempts: their callers had their answers at once.
    log = DecisionLog(partial(commit_groups, db.engine), queue_size=10, timeout=0.3)
    log.start()
    aggregate = dataclasses.replace(record("aggregate".ljust(26, "0")), allow=False, attempts=40)
    try:
        with decision_log_locked(database_url), pytest.raises(DecisionLogUnavailable, match="in time"):
            log.record([aggregate], answered=True)
        wait_for(lambda: delivered([aggregate.decision_id]) != {})
        log.record([record("next".ljust(26, "0"))])  # whatever marks were due went with it
    finally:
        log.close()
    assert delivered([aggregate.decision_id]) == {aggregate.decision_id: True}


def test_a_503_whose_row_never_landed_leaves_nothing_to_mark(app):
    # The first commit goes to a writer process that hangs (its worker cannot know what it
    # stored: "unknown" after 0.3 s); the ones after it to a healthy one, started beforehand.
    hung, healthy = MachineWriter(reply_timeout=0.3), MachineWriter()
    sent: list[list[str]] = []

    def write(groups: Sequence[Group], undelivered: Sequence[str]) -> Stored:
        sent.append(list(undelivered))
        return (hung if len(sent) == 1 else healthy)(groups, undelivered)

    log = DecisionLog(write, queue_size=10, timeout=10.0)
    log.start()
    lost, after = "lost".ljust(26, "0"), "after".ljust(26, "0")
    try:
        os.kill(hung.pid, signal.SIGSTOP)
        with pytest.raises(DecisionLogUnavailable, match="could not be recorded; try again"):
            log.record([record(lost)])
        wait_for(lambda: not log._undelivered)  # the mark goes alone, nothing else being queued
        log.record([record(after)])
    finally:
        log.close()
        hung.close()
        healthy.close()
    assert sent[1] == [lost]
    assert delivered([lost, after]) == {after: True}


def test_a_full_queue_is_refused_without_queueing(app):
    # The writer is not started: nothing drains the queue.
    log = DecisionLog(partial(commit_groups, db.engine), queue_size=1, timeout=0.2)
    log._queue.put_nowait(None)  # fill the one slot
    with pytest.raises(DecisionLogUnavailable, match="queue is full"):
        log.record([record("x" * 26)])
    assert log.depth == 1


def test_rows_the_database_refuses_do_not_sink_the_rest_of_their_group(writer):
    log = DecisionLog(writer, queue_size=10, timeout=5.0)
    log.start()
    log.record([record("taken".ljust(26, "0"))])
    log.close()
    # Two requests queued before the writer starts, so one group commit holds both; one of them
    # repeats a decision id already stored.
    log = DecisionLog(writer, queue_size=10, timeout=5.0)
    results: dict[str, str] = {}

    def ask(decision_id: str) -> None:
        try:
            log.record([record(decision_id)])
            results[decision_id] = "committed"
        except DecisionLogUnavailable:
            results[decision_id] = "503"

    ids = ("taken".ljust(26, "0"), "fresh".ljust(26, "0"))
    threads = [threading.Thread(target=ask, args=(decision_id,)) for decision_id in ids]
    for thread in threads:
        thread.start()
    while log.depth < 2:
        time.sleep(0.01)
    log.start()
    for thread in threads:
        thread.join(10)
    log.close()

    assert results == {"taken".ljust(26, "0"): "503", "fresh".ljust(26, "0"): "committed"}
    assert stored(["fresh".ljust(26, "0")]) == {"fresh".ljust(26, "0")}
    # The refused repeat certainly stored nothing: the row it repeats, delivered earlier, stays so.
    assert delivered(list(ids)) == {"taken".ljust(26, "0"): True, "fresh".ljust(26, "0"): True}


def test_a_writer_process_that_died_between_commits_is_replaced(app):
    machine = MachineWriter()
    try:
        first = machine.pid
        os.kill(first, signal.SIGKILL)
        after = "after".ljust(26, "0")
        # Until its owner has started another, nothing reaches a writer: certainly not stored.
        assert machine([[record(after)]]) in (([Landed.NO], True), ([Landed.UNKNOWN], True))
        assert machine.commit_once_back([[record(after)]]) == ([Landed.YES], True)
        assert machine.pid != first
    finally:
        machine.close()
    assert stored(["after".ljust(26, "0")]) == {"after".ljust(26, "0")}


def test_a_hung_writer_process_fails_its_commit_and_a_new_one_takes_over(app):
    machine = MachineWriter(reply_timeout=0.5)
    try:
        hung = machine.pid
        os.kill(hung, signal.SIGSTOP)
        # Stopped, not dead: it might have committed before it hung, so nobody can say.
        assert machine([[record("lost".ljust(26, "0"))]]) == ([Landed.UNKNOWN], True)
        groups = [[record("a1".ljust(26, "0"))], [record("a2".ljust(26, "0"))]]
        assert machine.commit_once_back(groups) == ([Landed.YES, Landed.YES], True)
        assert machine.pid != hung  # the worker that waited killed it; its owner started another
    finally:
        machine.close()
    ids = ["lost".ljust(26, "0"), "a1".ljust(26, "0"), "a2".ljust(26, "0")]
    assert stored(ids) == {"a1".ljust(26, "0"), "a2".ljust(26, "0")}


def test_every_worker_commits_through_the_one_writer_and_one_dying_leaves_the_others(app):
    machine = MachineWriter()
    others = [WriterClient(machine.process.socket_path, reply_timeout=5.0) for _ in range(3)]
    try:
        # A worker killed mid-request: its connection dies with half a request sent.
        dying = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dying.connect(machine.process.socket_path)
        dying.sendall(b"\x00\x00\x10\x00[[[")
        dying.close()
        ids = [f"w{n}".ljust(26, "0") for n in range(len(others))]
        results: dict[str, Stored] = {}
        threads = [threading.Thread(target=lambda c=client, i=decision_id: results.__setitem__(
            i, c([[record(i)]]))) for client, decision_id in zip(others, ids, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert results == {decision_id: ([Landed.YES], True) for decision_id in ids}
        assert machine.pid == machine.process.pid  # the same writer served them all
    finally:
        for client in others:
            client.close()
        machine.close()
    assert stored(ids) == set(ids)


def test_a_malformed_request_hangs_up_on_its_sender_only(app):
    machine = MachineWriter()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rogue:
            rogue.settimeout(5)
            rogue.connect(machine.process.socket_path)
            rogue.sendall(b"\x00\x00\x00\x05{nope")
            assert rogue.recv(10) == b""  # hung up, nothing stored
        assert machine([[record("fine".ljust(26, "0"))]]) == ([Landed.YES], True)
    finally:
        machine.close()
    assert stored(["fine".ljust(26, "0")]) == {"fine".ljust(26, "0")}


def test_the_writer_process_exits_once_its_owner_closes_it_and_workers_hung_up(app):
    machine = MachineWriter()
    child = machine.process._child
    assert child is not None
    machine.client.close()
    machine.process.close()
    assert child.returncode == 0


def test_a_writer_started_while_its_owner_closes_is_stopped_too(app, monkeypatch):
    machine = MachineWriter()
    spawn, spawning, started = machine.process._spawn, threading.Event(), []

    def slow_spawn() -> subprocess.Popen[bytes]:
        spawning.set()
        assert machine.process._closing.wait(10)  # the owner closes while this one starts
        started.append(spawn())
        return started[-1]

    monkeypatch.setattr(machine.process, "_spawn", slow_spawn)
    os.kill(machine.pid, signal.SIGKILL)
    assert spawning.wait(10)
    machine.close()

    assert len(started) == 1 and started[0].poll() is not None  # not left running


def test_an_orphaned_writer_still_commits_for_workers_connected_then_exits(app):
    machine = MachineWriter()
    child = machine.process._child
    assert child is not None and child.stdin is not None
    first, last = "first".ljust(26, "0"), "last".ljust(26, "0")
    assert machine([[record(first)]]) == ([Landed.YES], True)  # the worker is connected
    child.stdin.close()  # its owner is gone (SIGKILLed, say); the worker still has requests
    try:
        assert machine([[record(last)]]) == ([Landed.YES], True)
        assert child.poll() is None
        machine.client.close()
        child.wait(10)
        assert child.returncode == 0
    finally:
        machine.close()
    assert stored([first, last]) == {first, last}


@pytest.mark.sqlite_only
def test_writer_processes_of_one_sqlite_database_take_turns(app):
    url = db.engine.url.render_as_string(hide_password=False)
    machine = MachineWriter(reply_timeout=0.5)
    try:
        with writers_take_turns(url):  # another writer holds the turn: this one waits for it
            assert machine([[record("waited".ljust(26, "0"))]]) == ([Landed.UNKNOWN], True)
        assert machine.commit_once_back([[record("turn".ljust(26, "0"))]]) == ([Landed.YES], True)
    finally:
        machine.close()
    assert stored(["waited".ljust(26, "0"), "turn".ljust(26, "0")]) == {"turn".ljust(26, "0")}
