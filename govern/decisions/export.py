"""Exporting the decision log: oldest first, in keyset batches, each batch its own short read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit.export_files import Export, start_export
from govern.decisions.query import COLUMNS, DecisionFilter, decision_select, row_dict
from govern.decisions.usage import NO_USAGE, USAGE_COLUMNS, usage_fields
from govern.models import Decision

BATCH = 5_000
EXPORT_COLUMNS = COLUMNS + USAGE_COLUMNS


def decision_batches(session: Session, where: DecisionFilter, *, ceiling: str | None,
                     batch: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    """The filtered decisions up to `ceiling` (an id), oldest first, `batch` rows at a time, each
    with its usage (EXPORT_COLUMNS)."""
    if ceiling is None:
        return
    after: str | None = None
    while True:
        query = (decision_select(where).where(Decision.decision_id <= ceiling)
                 .order_by(Decision.decision_id).limit(batch))
        if after is not None:
            query = query.where(Decision.decision_id > after)
        # Core rows straight from the connection: the ORM's result machinery would double the cost.
        rows = [row_dict(row) for row in session.connection().execute(query).all()]
        used = usage_fields(session, [row["decision_id"] for row in rows]) if rows else {}
        for row in rows:
            row.update(used.get(row["decision_id"], NO_USAGE))
        # End the read between batches: a long export must not pin one snapshot of a busy log.
        session.commit()
        if not rows:
            return
        yield rows
        after = rows[-1]["decision_id"]


def export_decisions(session: Session, where: DecisionFilter, *, fmt: str, actor: str,
                     key: Ed25519PrivateKey) -> Export:
    """Start a signed export of the decisions matching `where`, as they stand now (decisions made
    while it runs are left out)."""
    ceiling = session.execute(select(func.max(Decision.decision_id))).scalar()
    filters = where.as_dict()
    scope = {
        "filters": {name: value for name, value in filters.items() if name not in ("since", "until")},
        "time_range": {"since": filters.get("since"), "until": filters.get("until")},
        "last_decision_id_at_start": ceiling,
    }
    return start_export(session, kind="decisions", fmt=fmt, columns=EXPORT_COLUMNS,
                        id_column="decision_id",
                        batches=lambda: decision_batches(session, where, ceiling=ceiling),
                        scope=scope, actor=actor, key=key)
