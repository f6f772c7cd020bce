"""A real `govern serve` anchors the audit trail by itself: its workers sign the head into the
instance folder's checkpoint file and the operator's directory, and `govern audit verify` then
holds the trail to it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from databases import query

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance

WAIT = 30.0  # seconds for two workers to boot and write; the loop stops as soon as they have


def checkpoints(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_served_workers_checkpoint_the_head_in_both_places(live_server, demo_instance: DemoInstance,
                                                           tmp_path: Path) -> None:
    anchor = tmp_path / "other-team-volume"
    head = int(query(demo_instance.database_url, "SELECT max(id) FROM audit_event")[0][0])  # type: ignore[call-overload]
    instance_file = demo_instance.folder / "audit-checkpoints.jsonl"
    server = live_server(GOVERN_AUDIT_CHECKPOINT_DIR=str(anchor))

    deadline = time.monotonic() + WAIT
    while not (checkpoints(instance_file) and checkpoints(anchor / "audit-checkpoints.jsonl")):
        assert time.monotonic() < deadline, f"no checkpoint written\n{server.log()}"
        time.sleep(0.1)

    # Two workers, one lock: the head is signed once (govern demo signed it already), and the
    # operator's directory, named only now, gets the whole chain of checkpoints.
    time.sleep(1.5)
    lines = checkpoints(instance_file)
    assert [line["event_id"] for line in lines].count(head) == 1 and lines[-1]["event_id"] == head
    assert (anchor / "audit-checkpoints.jsonl").read_text() == instance_file.read_text()
    verified = demo_instance.govern("audit", "verify")
    assert f"anchored: checkpoint {len(lines)} (signed " in verified.stdout
    assert verified.stdout.rstrip().endswith("row(s) checked")
