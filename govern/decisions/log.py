"""The decision log writer: one thread per process commits whatever has queued in one transaction
(group commit), and each request waits for the commit that holds its row before it answers.

Fail closed: a full queue, a commit that fails or one that does not finish within the timeout
raises DecisionLogUnavailable, and the caller answers 503 instead of an unrecorded decision.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DataError, IntegrityError

from govern.decisions import metrics
from govern.errors import ServiceUnavailable
from govern.models import Decision
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

MAX_BATCH = 1_000
RETRY_PAUSE = 0.05


class DecisionLogUnavailable(ServiceUnavailable):
    code = "decision_log_unavailable"


WAITING, CLAIMED, ABANDONED = range(3)


class _Pending:
    __slots__ = ("records", "done", "ok", "state")

    def __init__(self, records: list[DecisionRecord]) -> None:
        self.records = records
        self.done = threading.Event()
        self.ok = False
        self.state = WAITING


def _row(record: DecisionRecord) -> dict[str, object]:
    return {
        "decision_id": record.decision_id,
        "created_at": datetime.fromtimestamp(record.created_at_us / 1e6, UTC),
        "request_id": record.request_id, "org_id": record.org_id, "key_prefix": record.key_prefix,
        "tier": record.tier, "model": record.model, "capability": record.capability,
        "allow": record.allow, "reason": record.reason, "policy_version": record.policy_version,
        "latency_us": record.latency_us, "pep_prefix": record.pep_prefix,
        "issuer": record.issuer, "subject": record.subject,
    }


class DecisionLog:
    def __init__(self, engine: Engine, *, queue_size: int, timeout: float) -> None:
        self._engine = engine
        self._timeout = timeout
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="govern-decision-log", daemon=True)
        self._started = False
        self._insert = insert(Decision)
        # Guards the hand-over of a pending record: the writer claims it for a commit, or its
        # request gives up first and the record is never written (no row for an unanswered call).
        self._claims = threading.Lock()

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def record(self, records: list[DecisionRecord]) -> None:
        """Return once `records` are committed; raise DecisionLogUnavailable if they cannot be."""
        pending = _Pending(records)
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            raise DecisionLogUnavailable("the decision log queue is full; try again") from None
        if not pending.done.wait(self._timeout):
            with self._claims:
                gave_up = pending.state == WAITING
                if gave_up:
                    pending.state = ABANDONED
            # Once claimed, the commit under way decides; it gets one more timeout to finish.
            if gave_up or not pending.done.wait(self._timeout):
                raise DecisionLogUnavailable("the decision could not be recorded in time; try again")
        if not pending.ok:
            raise DecisionLogUnavailable("the decision could not be recorded; try again")

    def close(self, timeout: float = 10.0) -> None:
        """Commit everything queued, then stop the writer."""
        if self._started and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[_Pending] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                self._commit(batch)

    def _commit(self, queued: list[_Pending]) -> None:
        with self._claims:
            batch = [pending for pending in queued if pending.state == WAITING]
            for pending in batch:
                pending.state = CLAIMED
        if not batch:
            return
        try:
            self._insert_rows(batch)
            outcomes = [True] * len(batch)
        except (DataError, IntegrityError):
            # One request's rows the database refuses must not sink the others of the group.
            log.exception("decision log group commit refused; committing its requests one by one")
            outcomes = [self._commit_alone(pending) for pending in batch]
        except Exception:
            log.exception("decision log commit of %d requests failed", len(batch))
            outcomes = [False] * len(batch)
            time.sleep(RETRY_PAUSE)  # a failing database should not be hammered in a tight loop
        for pending, ok in zip(batch, outcomes, strict=True):
            pending.ok = ok
            pending.done.set()
        metrics.LOG_QUEUE_DEPTH.set(self._queue.qsize())

    def _insert_rows(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        with self._engine.begin() as conn:
            conn.execute(self._insert, [_row(record) for pending in batch for record in pending.records])
        metrics.LOG_COMMIT_LATENCY.observe(time.perf_counter() - started)

    def _commit_alone(self, pending: _Pending) -> bool:
        try:
            self._insert_rows([pending])
            return True
        except Exception:
            log.exception("decision log refused %d rows", len(pending.records))
            return False
