"""The decision log's writer process: one per worker process, storing the worker's group commits.

Why a process: a writer thread inside a busy worker competes for the GIL with the request threads,
and every SQLite call gives the GIL up and queues for it again; under load that made a group commit
of three rows take about 8 ms instead of 1 ms. A child process has its GIL to itself.

The protocol runs over the child's stdin and stdout. The child first writes READY. A request is a
4-byte big-endian length and an orjson array of two items: the groups (each an array of records,
each record the DecisionRecord fields in order) and the ids of decisions to mark not delivered;
the answer is one byte per group (a `Landed` value), then one byte for the marks, 1 stored or 0 not. The child
ignores SIGINT and SIGTERM, so a server's shutdown cannot stop it before its worker has committed
what is queued; it exits when its stdin closes, that is when its worker closes it or dies.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

import orjson

from govern.database import new_engine, writers_take_turns
from govern.decisions import metrics
from govern.decisions.log_store import Group, Landed, Stored, commit_groups
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

READY = b"R"
HEADER = struct.Struct(">I")
FIELDS = tuple(field.name for field in dataclasses.fields(DecisionRecord))
DATABASE_URL_ENV = "GOVERN_LOG_WRITER_DATABASE_URL"
RESTART_PAUSE = 0.5


class WriterUnavailable(Exception):
    pass


class WriterProcess:
    """The worker's side: a `Writer` (see govern.decisions.log) backed by a child process.

    Called from the decision log's one writer thread only. A child that dies, hangs past
    `reply_timeout` or cannot start makes that call answer "outcome unknown" for every group (a
    child stopped past its reply timeout may have committed just before); the next call starts a
    new child.
    """

    def __init__(self, database_url: str, *, start_timeout: float, reply_timeout: float) -> None:
        self._database_url = database_url
        self._start_timeout = start_timeout
        self._reply_timeout = reply_timeout
        self._child: subprocess.Popen[bytes] | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._ensure_child()

    def __call__(self, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> Stored:
        with self._lock:
            if self._child is None and time.monotonic() - self._failed_at < RESTART_PAUSE:
                # No restart in a tight loop while the database fails; nothing was sent.
                return Stored([Landed.NO] * len(groups), not undelivered)
            try:
                child = self._ensure_child()
                payload = orjson.dumps([[[[getattr(record, name) for name in FIELDS] for record in group]
                                         for group in groups], undelivered])
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write(HEADER.pack(len(payload)) + payload)
                child.stdin.flush()
                answer = _read(child.stdout, len(groups) + 1, self._reply_timeout)
                return Stored([Landed(byte) for byte in answer[:-1]], answer[-1] == 1)
            except (OSError, ValueError, WriterUnavailable) as error:
                log.error("decision log writer process failed: %s", error)
                self._stop_child(kill=True)
                self._failed_at = time.monotonic()
                return Stored([Landed.UNKNOWN] * len(groups), not undelivered)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop_child(kill=False, timeout=timeout)

    def _ensure_child(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self._stop_child(kill=True)
        env = {**os.environ, DATABASE_URL_ENV: self._database_url}
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, env=env)
        self._child = child
        assert child.stdout is not None
        if _read(child.stdout, len(READY), self._start_timeout) != READY:
            raise WriterUnavailable("the writer process did not start")
        return child

    def _stop_child(self, *, kill: bool, timeout: float = 5.0) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if kill:
            child.kill()
        else:
            assert child.stdin is not None
            child.stdin.close()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def _read(stream: IO[bytes], size: int, timeout: float) -> bytes:
    """Exactly `size` bytes from a pipe, or WriterUnavailable after `timeout` or at its end."""
    deadline = time.monotonic() + timeout
    data = b""
    fd = stream.fileno()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise WriterUnavailable(f"no answer within {timeout} s")
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise WriterUnavailable("the writer process exited")
        data += chunk
    return data


def serve(inbox: IO[bytes], outbox: IO[bytes], database_url: str) -> None:
    """The child's loop: answer each request with one byte per group until the inbox closes."""
    engine = new_engine(database_url)
    turn = writers_take_turns(database_url)
    metrics.forget_process(os.getpid())  # it sets no gauge; its zeros would read as a worker's
    outbox.write(READY)
    outbox.flush()
    while (header := inbox.read(HEADER.size)) and len(header) == HEADER.size:
        raw_groups, undelivered = orjson.loads(inbox.read(HEADER.unpack(header)[0]))
        groups = [[DecisionRecord(*fields) for fields in group] for group in raw_groups]
        with turn:
            stored = commit_groups(engine, groups, undelivered)
        outbox.write(bytes([*stored.groups, stored.marked]))
        outbox.flush()
    engine.dispose()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    serve(sys.stdin.buffer, sys.stdout.buffer, os.environ[DATABASE_URL_ENV])
