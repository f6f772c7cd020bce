"""The decision log: one thread per process hands whatever has queued to the writer in one call
(group commit), and each request waits for the commit that holds its row before it answers. The
writer stores the groups in the database, in this process (`commit_groups`) or in a writer process
of its own (`govern.decisions.log_writer`).

Fail closed: a full queue, a commit that fails or one that does not finish within the timeout
raises DecisionLogUnavailable, and the caller answers 503 instead of an unrecorded decision.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from govern.decisions import metrics
from govern.decisions.log_store import Group
from govern.errors import ServiceUnavailable
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

MAX_BATCH = 1_000

# Stores groups of records and says for each whether it is stored.
Writer = Callable[[Sequence[Group]], list[bool]]


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


class DecisionLog:
    def __init__(self, write: Writer, *, queue_size: int, timeout: float) -> None:
        self._write = write
        self._timeout = timeout
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="govern-decision-log", daemon=True)
        self._started = False
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
            outcomes = self._write([pending.records for pending in batch])
        except Exception:  # the writer thread must outlive any writer failure: those requests get 503
            log.exception("decision log writer failed")
            outcomes = [False] * len(batch)
        for pending, ok in zip(batch, outcomes, strict=True):
            pending.ok = ok
            pending.done.set()
        metrics.LOG_QUEUE_DEPTH.set(self._queue.qsize())
