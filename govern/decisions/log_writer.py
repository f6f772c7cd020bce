"""The decision log's writer process: one per machine, committing the group commits of every worker.

Why a process: a writer thread inside a busy worker competes for the GIL with the request threads,
and every database call gives the GIL up and queues for it again; under load that made a group
commit of three rows take about 8 ms instead of 1 ms. A process has its GIL to itself.

Why one per machine: one transaction then carries every decision in flight on the machine instead
of each worker's few, and workers do not queue behind each other for SQLite's write lock.

`govern serve`'s main process starts it before its workers (`WriterProcess`); a process on its own
(a test, `flask run`, a CLI command) starts a private one the same way. Either owner starts it
again whenever it dies. Workers reach it through a Unix socket in a private (0700) folder
(`WriterClient`).

Protocol, per connection: a request is a 4-byte big-endian length and an orjson array of two
items: the groups (each an array of records, each record the DecisionRecord fields in order) and
the ids of decisions to mark not delivered; the answer is one byte per group (a `Landed` value),
then one byte for the marks, 1 stored or 0 not. A connection has one request in flight at a time.
The writer commits whatever has arrived on all connections in one transaction, answers each, then
waits for more.

The writer ignores SIGINT and SIGTERM, so a server's shutdown cannot stop it before the workers
have committed what they hold. It exits once its stdin has closed (its owner closed it or died)
and every worker has hung up, or LINGER seconds after its stdin closed.
"""

from __future__ import annotations

import logging
import os
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

import orjson

from govern.database import new_engine, writers_take_turns
from govern.decisions import metrics
from govern.decisions.log_store import FIELDS, Group, Landed, Stored, commit_groups
from govern.types import DecisionRecord

log = logging.getLogger(__name__)

READY = b"R"
HEADER = struct.Struct(">I")
DATABASE_URL_ENV = "GOVERN_LOG_WRITER_DATABASE_URL"
# Set by `govern serve` for its workers: the socket of the machine's writer.
SOCKET_ENV = "GOVERN_DECISION_LOG_SOCKET"
SOCKET_NAME = "writer.sock"
# A client that failed waits this long before it connects again; an owner, before a restart.
RESTART_PAUSE = 0.5
LAST_RESTART_PAUSE = 10.0
START_TIMEOUT = 30.0
LINGER = 30.0  # seconds the writer serves workers still connected once its owner has gone
_PEERCRED = struct.Struct("3i")


class WriterUnavailable(Exception):
    pass


class WriterProcess:
    """Runs the writer process, and starts it again whenever it dies (a thread waits on it)."""

    def __init__(self, database_url: str, *, start_timeout: float = START_TIMEOUT) -> None:
        self._database_url = database_url
        self._start_timeout = start_timeout
        self._folder = tempfile.mkdtemp(prefix="govern-log-")  # 0700: no other user can connect
        self.socket_path = os.path.join(self._folder, SOCKET_NAME)
        self._child: subprocess.Popen[bytes] | None = None
        self._closing = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="govern-log-writer", daemon=True)

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def start(self) -> None:
        """Start the writer and wait until it listens; raises WriterUnavailable if it does not."""
        self._child = self._spawn()
        self._supervisor.start()

    def close(self, timeout: float = 10.0) -> None:
        """Let the writer finish: it exits once every worker has hung up. A writer the supervisor
        was starting in the meantime is stopped too, once the supervisor has given up."""
        self._closing.set()
        stopped = self._child
        if stopped is not None:
            _stop(stopped, timeout)
        if self._supervisor.is_alive():
            self._supervisor.join(timeout + self._start_timeout)
        late = self._child
        if late is not None and late is not stopped:
            _stop(late, timeout)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, DATABASE_URL_ENV: self._database_url}
        # -P: this govern, never a `govern` folder where the server happens to be started.
        child = subprocess.Popen([sys.executable, "-P", "-m", __name__, self.socket_path],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert child.stdout is not None
        try:
            ready = _read(child.stdout.fileno(), len(READY), time.monotonic() + self._start_timeout)
        except (TimeoutError, WriterUnavailable):
            ready = b""
        if ready != READY:
            _stop(child, 0, kill=True)
            raise WriterUnavailable("the decision log's writer process did not start")
        return child

    def _supervise(self) -> None:
        pause = RESTART_PAUSE
        while not self._closing.is_set():
            child = self._child
            if child is not None:
                child.wait()
                if self._closing.is_set():
                    return
                log.error("the decision log's writer process exited (%s); starting another",
                          child.returncode)
                _close_pipes(child)
                self._child = None
            if self._closing.wait(pause):
                return
            try:
                self._child = self._spawn()
                pause = RESTART_PAUSE
            except (OSError, WriterUnavailable) as error:
                log.error("%s; trying again in %.1f s", error, pause)
                pause = min(2 * pause, LAST_RESTART_PAUSE)


class WriterClient:
    """A worker's side: a `Writer` (see govern.decisions.log) over a connection to the writer.

    Called from the decision log's one thread. A writer that cannot be reached stores nothing
    (every group: Landed.NO); one that hangs up or does not answer within `reply_timeout` may have
    committed just before (Landed.UNKNOWN). One that does not answer is taken for hung and killed,
    so its owner starts another; the next call connects again after a short pause.
    """

    def __init__(self, socket_path: str, *, reply_timeout: float) -> None:
        self._path = socket_path
        self._reply_timeout = reply_timeout
        self._sock: socket.socket | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, groups: Sequence[Group], undelivered: Sequence[str] = ()) -> Stored:
        with self._lock:
            nothing_sent = Stored([Landed.NO] * len(groups), not undelivered)
            if self._sock is None:
                if time.monotonic() - self._failed_at < RESTART_PAUSE:
                    return nothing_sent  # no reconnecting in a tight loop while the writer is away
                try:
                    self._sock = self._connect()
                except OSError as error:
                    log.error("decision log writer unreachable: %s", error)
                    self._failed_at = time.monotonic()
                    return nothing_sent
            sock = self._sock
            try:
                payload = orjson.dumps([[[FIELDS(record) for record in group] for group in groups],
                                        undelivered])
                deadline = time.monotonic() + self._reply_timeout
                sock.sendall(HEADER.pack(len(payload)) + payload)  # bounded by the socket's timeout
                answer = _read(sock.fileno(), len(groups) + 1, deadline)
                return Stored([Landed(byte) for byte in answer[:-1]], answer[-1] == 1)
            except (OSError, ValueError, WriterUnavailable) as error:
                log.error("decision log writer failed: %s", error)
                if isinstance(error, TimeoutError):
                    _kill_peer(sock)
                self._disconnect()
                self._failed_at = time.monotonic()
                return Stored([Landed.UNKNOWN] * len(groups), not undelivered)

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._reply_timeout)
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        return sock

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _kill_peer(sock: socket.socket) -> None:
    """Kill the writer at the other end of `sock`, which did not answer in time."""
    try:
        pid, _uid, _gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                           _PEERCRED.size))
        os.kill(pid, signal.SIGKILL)
        log.error("killed the decision log's writer process %d: it did not answer in time", pid)
    except OSError:
        pass  # gone already


def _read(fd: int, size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from the pipe or socket `fd`; TimeoutError past `deadline` (a
    time.monotonic()), WriterUnavailable at its end."""
    waiting = select.poll()  # not select(): a busy worker's descriptors may pass FD_SETSIZE
    waiting.register(fd, select.POLLIN)
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not waiting.poll(remaining * 1000):
            raise TimeoutError("no answer in time")
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise WriterUnavailable("the writer process hung up")
        data += chunk
    return data


def _close_pipes(child: subprocess.Popen[bytes]) -> None:
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def _stop(child: subprocess.Popen[bytes], timeout: float, *, kill: bool = False) -> None:
    if kill:
        child.kill()
    elif child.stdin is not None:
        child.stdin.close()
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    _close_pipes(child)


# -- the writer process ----------------------------------------------------------------------------
class _Request(NamedTuple):
    conn: socket.socket
    groups: list[Group]
    undelivered: list[str]


class _Server:
    """The writer's loop: read what every connection has sent, commit it at once, answer each."""

    def __init__(self, listener: socket.socket, owner: int, database_url: str) -> None:
        self._engine = new_engine(database_url)
        self._turn = writers_take_turns(database_url)
        self._listener = listener
        self._owner = owner
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(owner, selectors.EVENT_READ)
        self._buffers: dict[socket.socket, bytearray] = {}
        self._orphaned_at: float | None = None

    def run(self) -> None:
        while self._orphaned_at is None or (
                self._buffers and time.monotonic() - self._orphaned_at < LINGER):
            requests: list[_Request] = []
            for key, _events in self._selector.select(timeout=1.0 if self._orphaned_at else None):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj == self._owner:
                    self._owner_gone()
                else:
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    requests.extend(self._read(conn))
            if requests:
                self._commit(requests)
        self._engine.dispose()

    def _accept(self) -> None:
        conn, _address = self._listener.accept()
        conn.setblocking(False)
        self._buffers[conn] = bytearray()
        self._selector.register(conn, selectors.EVENT_READ)

    def _owner_gone(self) -> None:
        if os.read(self._owner, 1):
            return  # nothing is ever written to stdin; it only closes
        self._selector.unregister(self._owner)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._orphaned_at = time.monotonic()

    def _read(self, conn: socket.socket) -> list[_Request]:
        buffer = self._buffers[conn]
        try:
            chunk = conn.recv(1 << 20)
        except BlockingIOError:
            return []
        except OSError:
            chunk = b""
        if not chunk:
            self._hang_up(conn)
            return []
        buffer += chunk
        requests: list[_Request] = []
        while len(buffer) >= HEADER.size:
            size = HEADER.unpack_from(buffer)[0]
            if len(buffer) < HEADER.size + size:
                break
            try:
                raw_groups, undelivered = orjson.loads(bytes(buffer[HEADER.size:HEADER.size + size]))
                groups: list[Group] = [[DecisionRecord(*fields) for fields in group] for group in raw_groups]
            except (ValueError, TypeError):
                log.error("a decision log request could not be read; hanging up on its worker")
                self._hang_up(conn)
                return requests
            del buffer[:HEADER.size + size]
            requests.append(_Request(conn, groups, undelivered))
        return requests

    def _hang_up(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        del self._buffers[conn]
        conn.close()

    def _commit(self, requests: list[_Request]) -> None:
        groups = [group for request in requests for group in request.groups]
        undelivered = [decision_id for request in requests for decision_id in request.undelivered]
        with self._turn:
            stored = commit_groups(self._engine, groups, undelivered)
        first = 0
        for request in requests:
            landed = stored.groups[first:first + len(request.groups)]
            first += len(request.groups)
            answer = bytes([*landed, stored.marked or not request.undelivered])
            if request.conn in self._buffers:
                try:
                    request.conn.send(answer)  # a few bytes into an empty buffer: it cannot block
                except OSError:  # its worker died meanwhile
                    self._hang_up(request.conn)


def serve(socket_path: str, database_url: str, owner: int) -> None:
    """The writer process: listen at `socket_path`, say READY on stdout, serve until orphaned."""
    if os.path.exists(socket_path):
        os.unlink(socket_path)  # left by a writer that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(128)
    server = _Server(listener, owner, database_url)
    metrics.forget_process(os.getpid())  # it sets no gauge; its zeros would read as a worker's
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    server.run()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    serve(sys.argv[1], os.environ[DATABASE_URL_ENV], sys.stdin.fileno())
