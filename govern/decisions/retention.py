"""Retention: deleting decisions older than a cutoff, in short batches, with the purge on record.

Each batch is read, hashed and deleted in its own short transaction, so the decision log's writer
waits at most one batch for the lock. The purge's digest is the SHA-256 of the purged rows in
decision_id order, encoded exactly as a JSON Lines export encodes them: a JSON Lines export made
just before with `until` = the cutoff has that same SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from govern.audit.export_files import encode_batch
from govern.audit.trail import record_event
from govern.decisions.export import EXPORT_COLUMNS, decision_batches
from govern.decisions.query import DecisionFilter, id_at
from govern.models import Decision, Usage
from govern.models.base import utcnow

BATCH = 5_000


@dataclass(frozen=True)
class PurgeReport:
    before: str
    rows: int
    sha256: str
    first_decision_id: str | None
    last_decision_id: str | None
    complete: bool
    dry_run: bool


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)


def purge_decisions(session: Session, *, before: datetime, actor: str, dry_run: bool = False,
                    batch: int = BATCH) -> PurgeReport:
    """Delete every decision made before `before` (or, with dry_run, only count and hash them) and
    record a `decisions.purge` audit event with the range, the row count and the digest. A purge
    stopped half-way still records what it deleted (complete: false) before the error goes on."""
    sha = hashlib.sha256()
    rows = 0
    first: str | None = None
    last: str | None = None
    complete = False
    try:
        for chunk in decision_batches(session, DecisionFilter(until=before), ceiling=id_at(before),
                                      batch=batch):
            low, high = chunk[0]["decision_id"], chunk[-1]["decision_id"]
            if not dry_run:
                # Ids are time-ordered and the cutoff is in the past: no new row can land in [low, high].
                session.execute(delete(Decision).where(Decision.decision_id >= low,
                                                       Decision.decision_id <= high))
                # Their usage goes with them (a purged row's usage is in the digest as in an export).
                session.execute(delete(Usage).where(Usage.decision_id >= low, Usage.decision_id <= high))
                session.commit()
            sha.update(encode_batch(chunk, EXPORT_COLUMNS, "jsonl"))
            first, last, rows = first or low, high, rows + len(chunk)
        complete = True
    finally:
        report = PurgeReport(before=before.isoformat(), rows=rows, sha256=sha.hexdigest(),
                             first_decision_id=first, last_decision_id=last, complete=complete,
                             dry_run=dry_run)
        if not dry_run:
            session.rollback()
            record_event(session, actor=actor, action="decisions.purge", target="decisions",
                         after=_summary(report))
            session.commit()
    return report


def _summary(report: PurgeReport) -> dict[str, Any]:
    summary = asdict(report)
    del summary["dry_run"]
    return summary
