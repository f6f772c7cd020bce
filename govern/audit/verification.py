"""`govern audit verify`: the hash chain, the signed checkpoints, and the live rows, on the server
or (chain and checkpoints) offline from an export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from govern.audit.checkpoints import (
    Checkpoint,
    CheckpointInvalid,
    all_checkpoints,
    check_against,
    describe,
    hashes_at,
    trail_head,
)
from govern.audit.export_files import read_rows, verify_export
from govern.audit.live_state import check_live_state
from govern.audit.signing import ExportInvalid
from govern.audit.trail import verify_chain
from govern.audit.trail_export import check_chain


@dataclass
class Verification:
    """What checked out (`passed`) and every problem found, one line each."""

    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _not_anchored(paths: Sequence[Path]) -> str:
    return (f"no signed checkpoint of the audit trail in {', '.join(map(str, paths))}: its end is not "
            "anchored (`govern audit checkpoint` writes one)")


def _anchored(checkpoint: Checkpoint) -> str:
    return f"anchored: {describe(checkpoint)} covers event {checkpoint.event_id}"


def verify_trail(session: Session, key: Ed25519PublicKey, checkpoint_paths: Sequence[Path]) -> Verification:
    """The chain, the chain against every checkpoint in `checkpoint_paths`, and the live rows."""
    result = Verification()
    checked, broken = verify_chain(session)
    if broken is not None:
        result.problems.append(f"audit trail broken at event {broken.event_id}: {broken.problem}")
    else:
        result.passed.append(f"audit trail intact: {checked} event(s) verified")
    try:
        checkpoints = all_checkpoints(checkpoint_paths, key)
        if not checkpoints:
            raise CheckpointInvalid(_not_anchored(checkpoint_paths))
        last_id = head[0] if (head := trail_head(session)) else 0
        check_against(checkpoints, hashes_at(session, (c.event_id for c in checkpoints)), last_id)
        later = last_id - checkpoints[-1].event_id
        result.passed.append(_anchored(checkpoints[-1])
                             + (f"; {later} later event(s) not checkpointed yet" if later else ""))
    except CheckpointInvalid as problem:
        result.problems.append(str(problem))
    found = check_live_state(session)
    result.problems.extend(found.problems)
    if not found.problems:
        result.passed.append(f"live state agrees with the trail: {found.rows} row(s) checked")
    return result


def verify_exported_trail(path: Path, manifest: dict[str, Any], key: Ed25519PublicKey,
                          checkpoint_paths: Sequence[Path]) -> Verification:
    """Offline, with no database: the export against its signed manifest, its hash chain, and the
    chain against the checkpoints. A checkpoint signed before the export started must lie within
    it (else the trail had been cut), and every checkpoint it covers must match."""
    result = Verification()
    if manifest.get("kind") != "audit":
        raise ExportInvalid("the manifest is not that of an audit-trail export")
    checked = verify_export(path, manifest, key, check_rows=check_chain)
    result.passed.append(f"export intact: {checked.rows} event(s), hash chain intact, signed by "
                         f"{checked.fingerprint}")
    try:
        checkpoints = all_checkpoints(checkpoint_paths, key)
        if not checkpoints:
            raise CheckpointInvalid(_not_anchored(checkpoint_paths))
        last_id = int((manifest.get("last") or {}).get("id", 0))
        started = manifest.get("started_at")
        if started is not None:
            before = [c for c in checkpoints if c.signed_at <= datetime.fromisoformat(started)]
            if before and before[-1].event_id > last_id:
                raise CheckpointInvalid(
                    f"the export ends at event {last_id} but {describe(before[-1])}, "
                    f"signed before the export started, covers event {before[-1].event_id}: "
                    "events were deleted from the end")
        covered = [c for c in checkpoints if c.event_id <= last_id]
        if not covered:
            raise CheckpointInvalid(f"no checkpoint covers the export's events (up to {last_id})")
        wanted = {c.event_id for c in covered}
        hash_at = {int(row["id"]): str(row["hash"]) for row in read_rows(path, str(manifest["file_format"]))
                   if int(row["id"]) in wanted}
        check_against(covered, hash_at, last_id)
        result.passed.append(_anchored(covered[-1]))
    except CheckpointInvalid as problem:
        result.problems.append(str(problem))
    return result

