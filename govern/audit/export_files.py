"""Export files (CSV, JSON Lines) streamed batch by batch, their signed manifests, offline checks.

An export is an audit event twice over: one when it starts (who, what, which filters), and one
holding the signed manifest when the last byte has been produced. Memory stays flat: rows arrive in
batches, each batch is encoded, hashed, counted and handed on before the next is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit.signing import ExportInvalid, check_signature, sign_manifest
from govern.audit.trail import record_event
from govern.errors import InvalidInput, NotFound
from govern.models import AuditEvent
from govern.models.base import utcnow

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
MANIFEST_FORMAT = "govern-export-manifest/1"
SIGNED = "export.signed"
READ_CHUNK = 1 << 20

Batches = Iterator[list[dict[str, Any]]]


def check_format(fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        raise InvalidInput(f"format must be one of {', '.join(MEDIA_TYPES)}", code="invalid_field")
    return fmt


# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection), and
# anyone can plant such a value (a model name sent to /v1/check, say). A single quote in front makes
# the cell text. A cell that itself starts with a quote gets one more, so that reading an export
# back takes exactly one off and gets every value as it was (hash chains still verify).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, TEXT_MARK)):
        return TEXT_MARK + value
    return value


def _csv_read(value: str) -> str:
    return value[1:] if value.startswith(TEXT_MARK) else value


def encode_batch(batch: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> bytes:
    """Rows as bytes of the file: JSON Lines one object per line, CSV with \\r\\n line ends."""
    if fmt == "jsonl":
        return b"".join(orjson.dumps(row) + b"\n" for row in batch)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([_csv_value(row[name]) for name in columns] for row in batch)
    return buffer.getvalue().encode()


@dataclass
class Export:
    """A started export: iterate `chunks` for the file's bytes; afterwards `manifest` is set."""

    export_id: str
    kind: str
    fmt: str
    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))
    rows: int = 0
    manifest: dict[str, Any] | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    @property
    def filename(self) -> str:
        return f"govern-{self.kind}-{self.export_id}.{self.fmt}"


def start_export(session: Session, *, kind: str, fmt: str, columns: Sequence[str], id_column: str,
                 batches: Callable[[], Batches], scope: dict[str, Any], actor: str,
                 key: Ed25519PrivateKey) -> Export:
    """Record that `actor` starts exporting `kind` (committed now), and return the export whose
    chunks, once consumed, record the signed manifest. `scope` (filters, time range, ...) goes
    into both events and the manifest."""
    export = Export(export_id=secrets.token_hex(10), kind=kind, fmt=check_format(fmt))
    target = f"export:{export.export_id}"
    record_event(session, actor=actor, action=f"{kind}.export", target=target,
                 after={"export_id": export.export_id, "format": fmt, **scope})
    session.commit()

    def produce() -> Iterator[bytes]:
        sha = hashlib.sha256()
        size = 0
        first: dict[str, Any] | None = None
        last: dict[str, Any] | None = None
        header = encode_batch([{name: name for name in columns}], columns, fmt) if fmt == "csv" else b""
        encoded = ((encode_batch(batch, columns, fmt), batch) for batch in batches())
        for data, batch in chain([(header, [])], encoded):
            if batch:
                first = first or batch[0]
                last = batch[-1]
                export.rows += len(batch)
            sha.update(data)
            size += len(data)
            if data:
                yield data
        manifest = {
            "manifest_format": MANIFEST_FORMAT, "kind": kind, "export_id": export.export_id,
            "file_format": fmt, "columns": list(columns), **scope, "row_count": export.rows,
            "first": _ends(first, id_column), "last": _ends(last, id_column),
            "sha256": sha.hexdigest(), "bytes": size, "govern_version": version("govern"),
            "exported_by": actor, "exported_at": utcnow().isoformat(),
        }
        export.manifest = sign_manifest(manifest, key)
        record_event(session, actor=actor, action=SIGNED, target=target, after=export.manifest)
        session.commit()

    export.chunks = produce()
    return export


def _ends(row: dict[str, Any] | None, id_column: str) -> dict[str, Any] | None:
    return {"id": row[id_column], "created_at": row["created_at"]} if row else None


def find_manifest(session: Session, export_id: str) -> dict[str, Any]:
    """The signed manifest of a finished export, as recorded in the audit trail."""
    after = session.execute(
        select(AuditEvent.after).where(AuditEvent.action == SIGNED,
                                       AuditEvent.target == f"export:{export_id}")).scalar()
    if after is None:
        raise NotFound(f"no finished export {export_id!r}", code="export_not_found")
    return dict(after)


def recent_manifests(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The signed manifests of the latest finished exports, newest first."""
    found = session.execute(select(AuditEvent.after).where(AuditEvent.action == SIGNED)
                            .order_by(AuditEvent.id.desc()).limit(limit)).scalars()
    return [dict(after) for after in found if after is not None]


@dataclass(frozen=True)
class VerifiedExport:
    kind: str
    rows: int
    fingerprint: str


def verify_export(path: Path, manifest: dict[str, Any], trusted: Ed25519PublicKey | None,
                  check_rows: Callable[[Iterable[dict[str, Any]]], None] | None = None) -> VerifiedExport:
    """Check a file against its manifest offline: signature, SHA-256, size and row count, then
    `check_rows` over the parsed rows if given. Raises ExportInvalid naming the first failure."""
    signer = check_signature(manifest, trusted)
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    if sha.hexdigest() != manifest.get("sha256") or size != manifest.get("bytes"):
        raise ExportInvalid(f"{path.name} does not match the manifest's SHA-256 (changed or truncated)")
    rows = 0
    for _ in read_rows(path, str(manifest.get("file_format"))):
        rows += 1
    if rows != manifest.get("row_count"):
        raise ExportInvalid(f"{path.name} holds {rows} rows, the manifest says {manifest.get('row_count')}")
    if check_rows is not None:
        check_rows(read_rows(path, str(manifest["file_format"])))
    return VerifiedExport(kind=str(manifest.get("kind")), rows=rows, fingerprint=signer)


def read_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """The rows of an export file as dicts (CSV values as the strings exported, without the quote
    that keeps a spreadsheet from running one as a formula)."""
    if fmt == "jsonl":
        with path.open("rb") as handle:
            for line in handle:
                yield orjson.loads(line)
    elif fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield {name: _csv_read(value) for name, value in row.items()}
    else:
        raise ExportInvalid(f"unknown file_format {fmt!r} in the manifest")
