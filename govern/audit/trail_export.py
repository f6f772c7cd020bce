"""Exporting the audit trail with everything needed to re-check its hash chain elsewhere.

Each row carries the exact fields the hash covers (docs/audit-export.md spells out the recipe):
id, created_at (ISO 8601, exactly as hashed), actor, action, target, before, after, prev_hash, hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit.export_files import Export, start_export
from govern.audit.signing import ExportInvalid
from govern.audit.trail import GENESIS, event_hash
from govern.models import AuditEvent
from govern.models.base import utcnow

COLUMNS = ("id", "created_at", "actor", "action", "target", "before", "after", "prev_hash", "hash")
BATCH = 2_000


def _row(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "created_at": event.created_at.isoformat(), "actor": event.actor,
            "action": event.action, "target": event.target, "before": event.before,
            "after": event.after, "prev_hash": event.prev_hash, "hash": event.hash}


def event_batches(session: Session, ceiling: int) -> Iterator[list[dict[str, Any]]]:
    after = 0
    while after < ceiling:
        events = session.execute(
            select(AuditEvent).where(AuditEvent.id > after, AuditEvent.id <= ceiling)
            .order_by(AuditEvent.id).limit(BATCH)).scalars().all()
        rows = [_row(event) for event in events]
        session.expunge_all()
        session.commit()
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def export_trail(session: Session, *, fmt: str, actor: str, key: Ed25519PrivateKey) -> Export:
    """Start a signed export of the whole trail as it stands now (events 1 to the newest)."""
    # Read before the ceiling: any checkpoint signed before this moment covers an event the export holds.
    started_at = utcnow().isoformat()
    ceiling = session.execute(select(func.max(AuditEvent.id))).scalar() or 0
    scope = {"filters": {}, "time_range": {"since": None, "until": None}, "last_event_id_at_start": ceiling,
             "started_at": started_at}
    return start_export(session, kind="audit", fmt=fmt, columns=COLUMNS, id_column="id",
                        batches=lambda: event_batches(session, ceiling), scope=scope, actor=actor, key=key)


def _json_field(value: Any) -> Any:
    """before/after: objects in JSON Lines, JSON text (or empty for none) in CSV."""
    if isinstance(value, str):
        return orjson.loads(value) if value else None
    return value


def check_chain(rows: Iterable[dict[str, Any]]) -> None:
    """Recompute every hash of an exported trail; raises ExportInvalid at the first bad row.

    A trail exported from event 1 must start at the genesis hash (64 zeros)."""
    expected_id: int | None = None
    prev_hash: str | None = None
    for row in rows:
        event_id = int(row["id"])
        if expected_id is None and event_id == 1 and row["prev_hash"] != GENESIS:
            raise ExportInvalid("event 1 does not start from the genesis hash")
        if expected_id is not None and event_id != expected_id:
            raise ExportInvalid(f"event {expected_id} is missing from the export")
        if prev_hash is not None and row["prev_hash"] != prev_hash:
            raise ExportInvalid(f"event {event_id}: prev_hash does not match the event before")
        recomputed = event_hash(event_id, datetime.fromisoformat(row["created_at"]), row["actor"],
                                row["action"], row["target"], _json_field(row["before"]),
                                _json_field(row["after"]), row["prev_hash"])
        if recomputed != row["hash"]:
            raise ExportInvalid(f"event {event_id}: contents do not match its hash")
        expected_id, prev_hash = event_id + 1, row["hash"]
