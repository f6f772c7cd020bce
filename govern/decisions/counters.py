"""A `limits` storage in one memory-mapped file, shared by every worker process on a machine.

Registered with `limits` under the scheme `mmap` (`mmap:///absolute/path.counters?slots=N`), so it
is picked by URI like limits' own storages. It exists because per-process memory counters are
wrong under several workers (N workers would admit N times a limit), Redis is one more server to
run, and a database write per check cost about a fifth of govern's throughput.

The file is a header and a fixed table of `slots` fixed-window counters (32 bytes each: a 16-byte
digest of the key, the count, the end of its window), open addressing with linear probing over at
most MAX_PROBE slots. Every worker maps it shared, so a count is a few memory accesses under a lock:
a threading.Lock among a process's threads, and an flock on the file among processes. The kernel
drops the flock of a process that dies, even one killed while holding it. The file is sparse and
only the pages of slots in use are ever touched, so its size on disk and in memory follows the
number of keys counted, not `slots` (the default, 2**20 slots, is a 32 MiB file at most). A count
costs about 10 us of CPU, a quarter of the SQLite upsert this replaced (41 us), measured on the
2-core reference box over 1,000 keys.

It holds only counters, never anything govern's database needs: deleting it merely restarts every
window. A counter is written count first and key last, so a process killed in the middle of a
write leaves at most that one counter wrong; a window that would end later than its length from
now (a torn or foreign write, or a clock set back) is restarted. A file that is not such a table
(wrong magic, version or size, including a `slots` different from the URI's) is replaced by an
empty one, with a warning; processes still mapping the old one count apart from the new one until
they restart.

A count waits at most `timeout` seconds in all (the decision-log timeout, given by the rate
limiter) for this process's other threads and for other processes' flock, so a store that another
process holds locked, or a holder stopped by a signal, turns decisions into a fast 503, not a
stall. So does a full table: no free slot among the MAX_PROBE a key may use.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from limits.storage import Storage

from govern.database import private_file

log = logging.getLogger(__name__)

MAGIC = b"govcntr\0"
VERSION = 1
HEADER = struct.Struct("<8sQQ8x")  # magic, version, slots; as long as one slot
DIGEST = 16  # bytes of a key's digest, at the start of its slot; its window follows
SLOT = struct.Struct(f"<{DIGEST}sqd")  # key digest, count, end of window (time.time())
WINDOW = struct.Struct("<qd")  # the count and end of window of a slot, after its digest
COUNT = struct.Struct("<q")
NEVER_USED = bytes(DIGEST)  # a slot never written: no key's probe goes past it
DEFAULT_SLOTS = 2**20
MAX_SLOTS = 2**31
MAX_PROBE = 64
PAGE = mmap.PAGESIZE
DEFAULT_TIMEOUT = 2.0
# Waits for another process' flock, in seconds: holders keep it for microseconds.
FIRST_SLEEP = 0.0001
LONGEST_SLEEP = 0.005


class CountersUnavailable(Exception):
    """The counters cannot answer: busy past the timeout, or no free slot for a key."""


class MmapStorage(Storage):
    """Fixed-window counters in a shared memory-mapped file; thread-safe, and exact across the
    processes of one machine."""

    STORAGE_SCHEME = ["mmap"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path, self.slots = _parse(uri)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._fd = _open_table(self.path, self.slots, timeout)
        self._map = mmap.mmap(self._fd, HEADER.size + self.slots * SLOT.size)

    def _acquire(self) -> mmap.mmap:
        """The table, for this thread and process alone until _release; raises CountersUnavailable
        when others hold it past the timeout. (Not a generator context manager: it costs a
        third of a count.)"""
        deadline = time.monotonic() + self._timeout
        if not self._lock.acquire(timeout=self._timeout):
            raise CountersUnavailable(f"the rate-limit counters {self.path} are busy in this process")
        try:
            _flock(self._fd, deadline, self.path)
        except BaseException:
            self._lock.release()
            raise
        return self._map

    def _release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def _probe(self, table: mmap.mmap, digest: bytes, now: float) -> tuple[int | None, int | None]:
        """The offset of the slot holding `digest`, and of the first free slot of its probe."""
        free = None
        home = int.from_bytes(digest[:8], "little") % self.slots
        for step in range(min(MAX_PROBE, self.slots)):
            offset = HEADER.size + (home + step) % self.slots * SLOT.size
            held, _count, expires_at = SLOT.unpack_from(table, offset)
            if held == digest:
                return offset, free
            if free is None and not expires_at > now:  # `not >`: a torn (NaN) end frees it too
                free = offset
            if held == NEVER_USED:
                break
        return None, free

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return CountersUnavailable, OSError, struct.error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_window(key, expiry, amount)[0]

    def incr_window(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """Count `amount` into `key`'s window (a new one of `expiry` seconds if none is open): its
        count after, and when it ends; under one lock, where incr and get_expiry take two."""
        digest = _digest(key)
        table = self._acquire()
        # The time is read under the lock: read before it, a caller that waited would take a
        # window another opened meanwhile for one "ending too late" and restart it, losing counts.
        now = time.time()
        try:
            held, free = self._probe(table, digest, now)
            if held is not None:
                count, expires_at = WINDOW.unpack_from(table, held + DIGEST)
                if now < expires_at <= now + expiry:
                    count += amount
                    COUNT.pack_into(table, held + DIGEST, count)
                    return int(count), float(expires_at)
                WINDOW.pack_into(table, held + DIGEST, amount, now + expiry)
                return amount, now + expiry
            if free is None:
                raise CountersUnavailable(
                    f"the rate-limit counters {self.path} are full: no free slot among the "
                    f"{MAX_PROBE} a key may use of {self.slots}; raise ?slots= in GOVERN_RATELIMIT_STORAGE")
            WINDOW.pack_into(table, free + DIGEST, amount, now + expiry)
            table[free:free + DIGEST] = digest  # last: a write cut short leaves the old key's slot
            return amount, now + expiry
        finally:
            self._release()

    def refund(self, key: str, amount: int) -> None:
        """Take back `amount` that `key`'s open window counted and did not use; nothing if the
        window has ended since (a new one never starts below zero)."""
        table = self._acquire()
        now = time.time()  # under the lock, as in incr_window
        try:
            held, _free = self._probe(table, _digest(key), now)
            if held is not None:
                count, expires_at = WINDOW.unpack_from(table, held + DIGEST)
                if expires_at > now and count >= amount:
                    COUNT.pack_into(table, held + DIGEST, count - amount)
        finally:
            self._release()

    def _window(self, key: str, now: float) -> tuple[int, float]:
        """The count and end of window held for `key`, expired or not; (0, 0.0) if none is."""
        table = self._acquire()
        try:
            held, _free = self._probe(table, _digest(key), now)
            return (0, 0.0) if held is None else WINDOW.unpack_from(table, held + DIGEST)
        finally:
            self._release()

    def get(self, key: str) -> int:
        now = time.time()
        count, expires_at = self._window(key, now)
        return int(count) if expires_at > now else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        _count, expires_at = self._window(key, now)
        return max(float(expires_at), now)

    def check(self) -> bool:
        try:
            self._acquire()
        except CountersUnavailable:
            return False
        self._release()
        return True

    def reset(self) -> int | None:
        """Forget every counter. Returns None: counting them would read the whole table."""
        table = self._acquire()
        try:
            # Only pages that hold something are written: the file stays as sparse as it was.
            for start in range(HEADER.size, len(table), PAGE):
                end = min(start + PAGE, len(table))
                if table[start:end].strip(b"\0"):
                    table[start:end] = bytes(end - start)
        finally:
            self._release()
        return None

    def clear(self, key: str) -> None:
        table = self._acquire()
        try:
            held, _free = self._probe(table, _digest(key), time.time())
            if held is not None:  # the digest stays, so the probes of the keys after it still pass
                WINDOW.pack_into(table, held + DIGEST, 0, 0.0)
        finally:
            self._release()

    def close(self) -> None:
        """Let go of the file; closing again does nothing (a runtime may stop twice at exit)."""
        with self._lock:  # every holder lets go within its bounded wait
            if not self._map.closed:
                self._map.close()
                os.close(self._fd)


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=DIGEST).digest()


def _parse(uri: str) -> tuple[str, int]:
    """The absolute path and the slot count of a `mmap:///path?slots=N` URI; raises ValueError."""
    parts = urlsplit(uri)
    if parts.netloc or not parts.path.startswith("/"):
        raise ValueError(f"a mmap rate-limit storage needs an absolute path "
                         f"(mmap:///path/ratelimits.counters), got {uri!r}")
    query = parse_qs(parts.query, strict_parsing=bool(parts.query))
    if set(query) - {"slots"}:
        raise ValueError(f"a mmap rate-limit storage takes only ?slots=N, got {uri!r}")
    try:
        slots = int(query.get("slots", [str(DEFAULT_SLOTS)])[-1])
    except ValueError:
        slots = 0
    if not 1 <= slots <= MAX_SLOTS:
        raise ValueError(f"slots must be a whole number from 1 to {MAX_SLOTS}, got {uri!r}")
    return parts.path, slots


def _flock(fd: int, deadline: float, path: str) -> None:
    """Take the flock of `fd`, polling until `deadline`; raises CountersUnavailable past it.
    flock, not lockf: it belongs to the open file, so two handles in one process exclude each
    other too."""
    sleep = FIRST_SLEEP
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CountersUnavailable(
                    f"the rate-limit counters {path} are locked by another process") from None
            time.sleep(min(sleep, left))
            sleep = min(sleep * 2, LONGEST_SLEEP)


def _open_table(path: str, slots: int, timeout: float) -> int:
    """A descriptor of the counter table at `path` with `slots` slots, made or replaced first if
    the file is not one. A table is only ever replaced whole, so one found whole needs no lock:
    a worker starting while the store is locked starts, and answers 503 like the others. A file
    found wrong is looked at again under the lock before it is replaced."""
    private_file(Path(path))
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR)
        try:
            if _is_table(fd, slots):
                return fd
            _flock(fd, deadline, path)
            try:
                # Another process may have replaced it while we waited: then open the new one.
                if os.fstat(fd).st_ino == os.stat(path).st_ino and not _is_table(fd, slots):
                    _replace(fd, path, slots)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _is_table(fd: int, slots: int) -> bool:
    size = os.fstat(fd).st_size
    header = os.pread(fd, HEADER.size, 0)
    return (size == HEADER.size + slots * SLOT.size and len(header) == HEADER.size
            and HEADER.unpack(header) == (MAGIC, VERSION, slots))


def _replace(fd: int, path: str, slots: int) -> None:
    """Put an empty table where the file of `fd` is (whole, by a rename: processes that map the
    old file must not see it shrink under them)."""
    if os.fstat(fd).st_size:
        log.warning("rate-limit counters %s are not a table of %d slots; replaced by an empty one "
                    "(every window restarts)", path, slots)
    made, made_path = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ratelimits-")
    try:
        os.ftruncate(made, HEADER.size + slots * SLOT.size)
        os.pwrite(made, HEADER.pack(MAGIC, VERSION, slots), 0)
        os.replace(made_path, path)
    except BaseException:
        os.unlink(made_path)
        raise
    finally:
        os.close(made)
