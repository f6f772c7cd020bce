"""Signed checkpoints of the audit trail's head, kept outside the database.

A hash chain alone cannot show that its last rows were deleted, or that every hash was recomputed
after an edit: whoever can write the table can make a shorter or different chain that is still
consistent. So the head (the newest event's id and hash) is signed with the server's Ed25519 key and
appended, one JSON line per checkpoint, to files outside the database: `audit-checkpoints.jsonl` in
the instance folder and, when GOVERN_AUDIT_CHECKPOINT_DIR is set, in that directory too. Each line
is signed and names the SHA-256 of the line before it, so a file that was edited, reordered or had
lines removed from the middle no longer checks out (docs/audit-export.md has the format).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from govern.audit.signing import canonical, fingerprint, signing_key
from govern.audit.trail import GENESIS
from govern.config import Settings
from govern.errors import Conflict
from govern.models import AuditEvent
from govern.models.base import utcnow

FORMAT = "govern-audit-checkpoint/1"
FILE_NAME = "audit-checkpoints.jsonl"
LOCK_NAME = "audit-checkpoints.lock"
INTERVAL_SECONDS = 60.0
# How often a serving process looks at the head; the look is one indexed query.
POLL_SECONDS = 1.0
TAIL_BYTES = 8192  # more than one line
STOP_TIMEOUT = 5.0

log = logging.getLogger(__name__)


class CheckpointInvalid(Conflict):
    """A checkpoint file, or the trail measured against it, does not check out; says why."""

    code = "checkpoint_invalid"


@dataclass(frozen=True)
class Checkpoint:
    number: int
    event_id: int
    event_hash: str
    signed_at: datetime
    line: str  # exactly as written, without the newline

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.line.encode()).hexdigest()


def checkpoint_files(instance_path: Path, operator_dir: Path | None) -> list[Path]:
    """Where checkpoints go: the instance folder's file, then the operator's directory's."""
    files = [instance_path / FILE_NAME]
    if operator_dir is not None:
        files.append(operator_dir / FILE_NAME)
    return files


def _parse(line: str) -> Checkpoint:
    try:
        fields = json.loads(line)
        return Checkpoint(int(fields["checkpoint"]), int(fields["event_id"]), str(fields["event_hash"]),
                          datetime.fromisoformat(fields["signed_at"]), line)
    except (ValueError, KeyError, TypeError):
        raise CheckpointInvalid("a line is not a checkpoint") from None


def sign_checkpoint(key: Ed25519PrivateKey, *, event_id: int, event_hash: str,
                    previous: Checkpoint | None) -> Checkpoint:
    fields: dict[str, Any] = {
        "format": FORMAT, "checkpoint": previous.number + 1 if previous else 1,
        "event_id": event_id, "event_hash": event_hash, "signed_at": utcnow().isoformat(),
        "prev": previous.digest if previous else GENESIS, "key": fingerprint(key),
    }
    fields["signature"] = base64.b64encode(key.sign(canonical(fields))).decode()
    return _parse(json.dumps(fields, sort_keys=True, separators=(",", ":")))


def _check_line(checkpoint: Checkpoint, key: Ed25519PublicKey, previous: Checkpoint | None,
                where: str) -> None:
    fields = json.loads(checkpoint.line)
    label = f"{where}: checkpoint {checkpoint.number}"
    if fields.get("format") != FORMAT:
        raise CheckpointInvalid(f"{label} is not in the format {FORMAT}")
    if fields.get("key") != fingerprint(key):
        raise CheckpointInvalid(f"{label} is signed by {fields.get('key')}, not by {fingerprint(key)}")
    try:
        key.verify(base64.b64decode(str(fields.get("signature")), validate=True), canonical(fields))
    except (InvalidSignature, binascii.Error):
        raise CheckpointInvalid(f"{label}: the signature does not match its contents (edited)") from None
    if previous is None:
        if checkpoint.number == 1 and fields.get("prev") != GENESIS:
            raise CheckpointInvalid(f"{label} does not start from the genesis hash")
        return
    if checkpoint.number != previous.number + 1:
        raise CheckpointInvalid(f"{label} follows checkpoint {previous.number} (lines removed or reordered)")
    if fields.get("prev") != previous.digest:
        raise CheckpointInvalid(f"{label} does not link to the line before it (edited)")
    if checkpoint.event_id < previous.event_id:
        raise CheckpointInvalid(f"{label} covers event {checkpoint.event_id}, "
                                f"before checkpoint {previous.number}'s event {previous.event_id}")


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip("\n")


def read_checkpoints(path: Path, key: Ed25519PublicKey) -> list[Checkpoint]:
    """Every checkpoint of one file, each checked (signature, number, link to the line before);
    raises CheckpointInvalid at the first that fails. A missing file holds none."""
    if not path.exists():
        return []
    found: list[Checkpoint] = []
    for line in _lines(path):
        try:
            checkpoint = _parse(line)
        except CheckpointInvalid:
            raise CheckpointInvalid(f"{path}: line {len(found) + 1} is not a checkpoint") from None
        _check_line(checkpoint, key, found[-1] if found else None, str(path))
        found.append(checkpoint)
    return found


def all_checkpoints(paths: Iterable[Path], key: Ed25519PublicKey) -> list[Checkpoint]:
    """The checkpoints of every file, oldest first, after checking each file and that the files
    agree wherever they hold the same checkpoint number."""
    by_number: dict[int, tuple[Checkpoint, Path]] = {}
    for path in paths:
        for checkpoint in read_checkpoints(path, key):
            seen = by_number.setdefault(checkpoint.number, (checkpoint, path))
            if seen[0].line != checkpoint.line:
                raise CheckpointInvalid(f"checkpoint {checkpoint.number} differs between {seen[1]} "
                                        f"and {path} (one of them was rewritten)")
    return [by_number[number][0] for number in sorted(by_number)]


def describe(checkpoint: Checkpoint) -> str:
    """How a message names a checkpoint."""
    return f"checkpoint {checkpoint.number} (signed {checkpoint.signed_at.isoformat()})"


def check_against(checkpoints: Sequence[Checkpoint], hash_at: Mapping[int, str], last_id: int) -> None:
    """Raise CheckpointInvalid unless the trail still holds every checkpointed head: `hash_at`
    maps event ids to their hashes (at least those checkpoints cover), `last_id` is the newest."""
    if checkpoints and checkpoints[-1].event_id > last_id:
        raise CheckpointInvalid(f"the trail ends at event {last_id} but {describe(checkpoints[-1])} "
                                f"covers event {checkpoints[-1].event_id}: events were deleted from the end")
    for checkpoint in checkpoints:
        if checkpoint.event_id <= last_id and hash_at.get(checkpoint.event_id) != checkpoint.event_hash:
            raise CheckpointInvalid(f"event {checkpoint.event_id}'s hash differs from "
                                    f"{describe(checkpoint)}: the chain was rewritten")


def hashes_at(session: Session, ids: Iterable[int], chunk: int = 500) -> dict[int, str]:
    ordered = sorted(set(ids))
    found: dict[int, str] = {}
    for start in range(0, len(ordered), chunk):
        rows = session.execute(select(AuditEvent.id, AuditEvent.hash)
                               .where(AuditEvent.id.in_(ordered[start:start + chunk])))
        found.update((event_id, event_hash) for event_id, event_hash in rows)
    return found


def trail_head(session: Session) -> tuple[int, str] | None:
    row = session.execute(select(AuditEvent.id, AuditEvent.hash)
                          .order_by(AuditEvent.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def _last_line(path: Path) -> str | None:
    """The file's last line; None when it has none or cannot be read now (the write that follows
    says why, after the other files have their line)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1].decode() if lines else None


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Every worker process of this instance takes its turn."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Checkpointer:
    """Appends a signed checkpoint of the head to every file in `files` (the first, the instance
    folder's, holds the lock)."""

    def __init__(self, engine: Engine, key: Ed25519PrivateKey, files: Sequence[Path],
                 interval: float = INTERVAL_SECONDS) -> None:
        self._engine = engine
        self._key = key
        self._files = list(files)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def files(self) -> list[Path]:
        return list(self._files)

    def _ends(self) -> dict[Path, Checkpoint | None]:
        return {path: _parse(line) if (line := _last_line(path)) is not None else None
                for path in self._files}

    def write(self, *, min_age: float = 0.0) -> tuple[Checkpoint | None, bool]:
        """(the newest checkpoint, whether this call wrote it). Writes only when the head moved
        since the newest checkpoint and that one is at least `min_age` seconds old.

        Continues from the newest line of any file (one restored from a backup, or one a write
        missed, catches up). Raises CheckpointInvalid, writing nothing, when the trail no longer
        holds the newest checkpoint."""
        with _locked(self._files[0].with_name(LOCK_NAME)):
            ends = self._ends()
            newest = max((end for end in ends.values() if end is not None),
                         key=lambda checkpoint: checkpoint.number, default=None)
            with Session(self._engine) as session:
                head = trail_head(session)
                if head is None or (newest is not None and (newest.event_id, newest.event_hash) == head):
                    self._append(ends, newest, None)
                    return newest, False
                if newest is not None and (utcnow() - newest.signed_at).total_seconds() < min_age:
                    self._append(ends, newest, None)
                    return newest, False
                if newest is not None:
                    # Never sign a chain that no longer holds what was signed before.
                    check_against([newest], hashes_at(session, [newest.event_id]), head[0])
            checkpoint = sign_checkpoint(self._key, event_id=head[0], event_hash=head[1],
                                         previous=newest)
            self._append(ends, newest, checkpoint)
            return checkpoint, True

    def _append(self, ends: dict[Path, Checkpoint | None], newest: Checkpoint | None,
                checkpoint: Checkpoint | None) -> None:
        """Bring every file up to `newest` (a file that missed lines while its volume was away, or a
        directory named since, gets them from a file that has them), then append `checkpoint`."""
        source = next((path for path, end in ends.items() if newest is not None and end == newest), None)
        history = list(_lines(source)) if source is not None else []
        for path, end in ends.items():
            have = end.number if end is not None else 0
            missed = [line for line in history if _parse(line).number > have]
            lines = [*missed, *([checkpoint.line] if checkpoint is not None else [])]
            if not lines:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())

    # -- in a serving process: a thread of its own, so a slow or hung checkpoint volume never holds
    # up the refresh loop that carries revocations and suspensions to the workers.
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="govern-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.write(min_age=self._interval)
                wait = min(POLL_SECONDS, self._interval)
            except Exception:
                # A cut or rewritten trail (or an unwritable file): say so once an interval.
                log.exception("could not write a checkpoint of the audit trail")
                wait = self._interval


def checkpointer(engine: Engine, settings: Settings) -> Checkpointer:
    """The checkpointer of this instance, with the server's signing key and both places."""
    return Checkpointer(engine, signing_key(settings.instance_path, settings.signing_key),
                        checkpoint_files(settings.instance_path, settings.audit_checkpoint_dir))
