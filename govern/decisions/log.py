"""The decision log: one thread per process hands whatever has queued to the writer in one call
(group commit), and each request waits for the commit that holds its row before it answers. The
writer stores the groups in the database, in this process (`commit_groups`) or in a writer process
of its own (`govern.decisions.log_writer`).

Fail closed: a full queue, a commit that fails or one that does not finish within the timeout
raises DecisionLogUnavailable, and the caller answers 503 instead of an unrecorded decision.

No allow on record that nobody received: a request that answers 503 after its records were handed
to the writer (its commit was under way) may still see them land. The writer thread then sends
their ids with its next commit, or alone at once when nothing else is queued, and the database
marks those rows not delivered (docs/operations.md states the guarantee).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from govern.decisions import metrics
from govern.decisions.log_store import Group, Landed, Stored
from govern.errors import ServiceUnavailable
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

MAX_BATCH = 1_000
# Marks a commit carries at most: a backlog left by an outage must not make one commit slow.
MARKS_PER_COMMIT = 1_000
# Ids of uncertain outcome kept for marking at most (an outage answers many 503s whose rows mostly
# never landed); marks of rows known to have landed are always kept.
MAX_UNCERTAIN_MARKS = 100_000
MARK_RETRY_PAUSE = 0.1

# Stores groups of records and marks the decisions of the ids given not delivered, in one
# transaction; says for each group whether it landed, and whether the marks are stored.
Writer = Callable[[Sequence[Group], Sequence[str]], Stored]


class DecisionLogUnavailable(ServiceUnavailable):
    code = "decision_log_unavailable"


# WAITING: queued; CLAIMED: handed to the writer; ABANDONED: its request gave up while it was
# queued, so it is never written; GAVE_UP: its request answered 503 while its commit was under way.
WAITING, CLAIMED, ABANDONED, GAVE_UP = range(4)


class _Pending:
    __slots__ = ("records", "done", "ok", "state", "answered")

    def __init__(self, records: list[DecisionRecord], answered: bool) -> None:
        self.records = records
        self.done = threading.Event()
        self.ok = False
        self.state = WAITING
        self.answered = answered  # given before they were recorded: delivered whatever happens here


class DecisionLog:
    def __init__(self, write: Writer, *, queue_size: int, timeout: float) -> None:
        self._write = write
        self._timeout = timeout
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="govern-decision-log", daemon=True)
        self._started = False
        # Guards the hand-over of a pending record: the writer claims it for a commit, or its
        # request gives up first and the record is never written (no row for an unanswered call);
        # and its settling: the writer reports the commit, or its request gives up first and the
        # row, if it lands, is marked not delivered.
        self._claims = threading.Lock()
        # Decisions to mark not delivered, oldest first; only the writer thread touches it.
        self._undelivered: list[str] = []
        self._retry_marks_at = 0.0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def record(self, records: list[DecisionRecord], *, answered: bool = False) -> None:
        """Return once `records` are committed; raise DecisionLogUnavailable if they cannot be.

        `answered`: the decisions were already given (aggregates of refusals), so a give-up here
        withholds nothing and their rows are never marked not delivered."""
        pending = _Pending(records, answered)
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
            if not gave_up and not pending.done.wait(self._timeout):
                with self._claims:
                    gave_up = not pending.done.is_set()  # else the commit ended just now
                    if gave_up:
                        pending.state = GAVE_UP
            if gave_up:
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
            batch, stopping = self._take()
            self._commit(batch)
        while self._undelivered and self._commit([]):
            pass  # stopping: store the marks still waiting while the database takes them

    def _take(self) -> tuple[list[_Pending], bool]:
        """The next batch (empty when marks are due and nothing is queued), and whether close()
        asked to stop."""
        # Marks waiting go with the next group, or alone when none comes before they are due.
        wait = max(0.0, self._retry_marks_at - time.monotonic()) if self._undelivered else None
        try:
            items = [self._queue.get(timeout=wait)]
        except queue.Empty:
            return [], False
        while len(items) < MAX_BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        batch = [item for item in items if item is not None]
        return batch, len(batch) < len(items)

    def _commit(self, queued: list[_Pending]) -> bool:
        """Commit the records still waiting in `queued` with the marks due; True if marks were
        stored."""
        with self._claims:
            batch = [pending for pending in queued if pending.state == WAITING]
            for pending in batch:
                pending.state = CLAIMED
        marks = self._undelivered[:MARKS_PER_COMMIT]
        if not batch and not marks:
            return False
        try:
            stored = self._write([pending.records for pending in batch], marks)
        except Exception:  # the writer thread must outlive any writer failure: those requests get 503
            log.exception("decision log writer failed")
            stored = Stored([Landed.UNKNOWN] * len(batch), not marks)
        if stored.marked:
            del self._undelivered[:len(marks)]
        else:
            self._retry_marks_at = time.monotonic() + MARK_RETRY_PAUSE
        with self._claims:
            for pending, landed in zip(batch, stored.groups, strict=True):
                pending.ok = landed == Landed.YES
                if pending.answered:
                    pass  # nothing was withheld: the rows stay delivered
                elif landed == Landed.YES and pending.state == GAVE_UP:
                    self._undelivered.extend(record.decision_id for record in pending.records)
                elif landed == Landed.UNKNOWN:
                    # Its request answers 503 and the row may still have landed: mark it if so.
                    self._keep_uncertain(pending.records)
                pending.done.set()
        metrics.LOG_QUEUE_DEPTH.set(self._queue.qsize())
        return bool(marks) and stored.marked

    def _keep_uncertain(self, records: list[DecisionRecord]) -> None:
        if len(self._undelivered) < MAX_UNCERTAIN_MARKS:
            self._undelivered.extend(record.decision_id for record in records)
        else:
            log.error("%d decisions of uncertain outcome are not kept for marking: %d marks already "
                      "wait for the database", len(records), len(self._undelivered))
