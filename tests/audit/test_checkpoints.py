"""The anchored trail: the head is signed into checkpoint files outside the database, so deleting the
last events, or rewriting the chain and recomputing every hash with the published recipe, is found by
`govern audit verify`, on the server and offline from an export; an edited checkpoint file too."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from govern.audit.checkpoints import Checkpointer
from govern.audit.signing import signing_key
from govern.audit.trail import GENESIS, event_hash, record_event
from govern.decisions.runtime import Runtime
from govern.extensions import db
from govern.models import AuditEvent

WAIT = 15.0  # seconds; every wait below stops as soon as its condition holds


@pytest.fixture
def trail(session: Session) -> Session:
    """Events 1 (the seeded policy) to 5."""
    for number in range(2, 6):
        record_event(session, actor="user:alice", action="org.note", target=f"note:{number}",
                     after={"n": number})
    session.commit()
    return session


def add_event(session: Session, number: int) -> None:
    record_event(session, actor="user:alice", action="org.note", target=f"note:{number}")
    session.commit()


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rewrite_consistently(session: Session, from_id: int) -> None:
    """Edit event `from_id` and recompute its hash and every later one with the published recipe,
    as someone with write access to the table could: the chain is intact again."""
    session.execute(text("UPDATE audit_event SET actor = 'user:mallory' WHERE id = :id"), {"id": from_id})
    session.commit()
    session.expire_all()
    events = session.execute(select(AuditEvent).where(AuditEvent.id >= from_id - 1)
                             .order_by(AuditEvent.id)).scalars().all()
    prev_hash = events[0].hash if events[0].id < from_id else GENESIS
    for event in (e for e in events if e.id >= from_id):
        new = event_hash(event.id, event.created_at, event.actor, event.action, event.target,
                         event.before, event.after, prev_hash)
        session.execute(text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :id"),
                        {"p": prev_hash, "h": new, "id": event.id})
        prev_hash = new
    session.commit()


def checkpoint_file(instance: Path) -> Path:
    return instance / "audit-checkpoints.jsonl"


# -- on the server ---------------------------------------------------------------------------------
def test_checkpoint_command_signs_the_head_into_the_instance_folder(trail, govern, instance):  # type: ignore[no-untyped-def]
    result = govern("audit", "checkpoint")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("checkpoint 1: event 5 (")
    (line,) = lines(checkpoint_file(instance))
    head = trail.get(AuditEvent, 5)
    assert (line["checkpoint"], line["event_id"], line["event_hash"]) == (1, 5, head.hash)
    assert line["prev"] == "0" * 64
    assert line["key"].startswith("SHA256:") and line["signature"]


def test_a_second_checkpoint_without_new_events_writes_nothing(trail, govern, instance):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")

    result = govern("audit", "checkpoint")

    assert result.output.startswith("checkpoint 1: event 5 (")
    assert "already the newest" in result.output
    assert len(lines(checkpoint_file(instance))) == 1


def test_verify_passes_on_an_anchored_intact_trail(trail, govern):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")

    result = govern("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "audit trail intact: 5 event(s) verified"
    assert result.output.splitlines()[1].startswith("anchored: checkpoint 1 (signed ")
    assert result.output.splitlines()[1].endswith(") covers event 5")


def test_verify_fails_when_nothing_anchors_the_trail(trail, govern, instance):  # type: ignore[no-untyped-def]
    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert (f"Error: no signed checkpoint of the audit trail in {checkpoint_file(instance)}: its end is "
            "not anchored (`govern audit checkpoint` writes one)\n") in result.output


def test_deleting_the_last_events_is_detected(trail, govern):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    trail.execute(text("DELETE FROM audit_event WHERE id >= 4"))
    trail.commit()

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "audit trail intact: 3 event(s) verified" in result.output  # the chain alone looks fine
    assert "Error: the trail ends at event 3 but checkpoint 1 (signed " in result.output
    assert ") covers event 5: events were deleted from the end" in result.output


def test_a_consistently_rewritten_chain_is_detected(trail, govern):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    rewrite_consistently(trail, 3)

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "audit trail intact: 5 event(s) verified" in result.output
    assert "Error: event 5's hash differs from checkpoint 1 (signed " in result.output
    assert "the chain was rewritten" in result.output


def test_a_rewrite_is_detected_even_after_later_checkpoints(trail, govern, instance):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    add_event(trail, 6)
    govern("audit", "checkpoint")
    rewrite_consistently(trail, 3)

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "Error: event 5's hash differs from checkpoint 1 (signed " in result.output


def test_a_rewritten_chain_is_never_signed(trail, govern, instance):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    rewrite_consistently(trail, 3)
    add_event(trail, 6)

    result = govern("audit", "checkpoint")

    assert result.exit_code == 1
    assert "Error: event 5's hash differs from checkpoint 1 (signed " in result.output
    assert len(lines(checkpoint_file(instance))) == 1


@pytest.mark.parametrize("edit, problem", [
    (lambda found: found[0].update(event_id=4), "checkpoint 1: the signature does not match its contents"),
    (lambda found: found.pop(1), "checkpoint 3 follows checkpoint 1 (lines removed or reordered)"),
    (lambda found: found.reverse(), "checkpoint 2 follows checkpoint 3 (lines removed or reordered)"),
], ids=["edited", "line-removed", "reordered"])
def test_an_edited_checkpoint_file_is_detected(trail, govern, instance, edit, problem):  # type: ignore[no-untyped-def]
    for number in (6, 7, 8):
        govern("audit", "checkpoint")
        add_event(trail, number)
    found = lines(checkpoint_file(instance))
    edit(found)
    checkpoint_file(instance).write_text("".join(json.dumps(line) + "\n" for line in found))

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert problem in result.output


def test_a_checkpoint_signed_by_another_key_is_refused(trail, govern, instance):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    (instance / "signing_key.pem").unlink()  # the server's key is replaced by a new one
    signing_key(instance, None)

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "checkpoint 1 is signed by SHA256:" in result.output


def test_checkpoints_also_go_to_the_operators_directory(trail, govern, env, instance, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    anchor = tmp_path / "other-team-volume"
    monkeypatch.setenv("GOVERN_AUDIT_CHECKPOINT_DIR", str(anchor))
    govern.env = {**env, "GOVERN_AUDIT_CHECKPOINT_DIR": str(anchor)}

    govern("audit", "checkpoint")

    assert (anchor / "audit-checkpoints.jsonl").read_text() == checkpoint_file(instance).read_text()
    assert lines(anchor / "audit-checkpoints.jsonl")[0]["event_id"] == 5


def test_cutting_both_the_trail_and_the_instance_file_is_caught_by_the_operators_copy(  # type: ignore[no-untyped-def]
        trail, govern, env, instance, tmp_path, monkeypatch):
    anchor = tmp_path / "other-team-volume"
    monkeypatch.setenv("GOVERN_AUDIT_CHECKPOINT_DIR", str(anchor))
    govern.env = {**env, "GOVERN_AUDIT_CHECKPOINT_DIR": str(anchor)}
    govern("audit", "checkpoint")
    add_event(trail, 6)
    govern("audit", "checkpoint")
    trail.execute(text("DELETE FROM audit_event WHERE id = 6"))
    trail.commit()
    kept = checkpoint_file(instance).read_text().splitlines()[:1]
    checkpoint_file(instance).write_text(kept[0] + "\n")

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "Error: the trail ends at event 5 but checkpoint 2 (signed " in result.output


def test_a_write_the_operators_directory_missed_is_caught_up(app: Flask, trail, instance, tmp_path):  # type: ignore[no-untyped-def]
    anchor_file = tmp_path / "volume" / "audit-checkpoints.jsonl"
    key = signing_key(instance, app.extensions["govern.settings"].signing_key)
    writer = Checkpointer(db.engine, key, [checkpoint_file(instance), anchor_file])
    writer.write()
    saved = anchor_file.rename(tmp_path / "saved.jsonl")
    anchor_file.mkdir()  # the volume refuses the next write
    add_event(trail, 6)
    with pytest.raises(IsADirectoryError):
        writer.write()
    anchor_file.rmdir()
    saved.rename(anchor_file)
    add_event(trail, 7)

    assert writer.write()[0].number == 3  # type: ignore[union-attr]

    assert [line["checkpoint"] for line in lines(checkpoint_file(instance))] == [1, 2, 3]
    assert [line["checkpoint"] for line in lines(anchor_file)] == [1, 2, 3]
    assert anchor_file.read_text() == checkpoint_file(instance).read_text()


# -- written while events arrive -------------------------------------------------------------------
def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_runtime_loop_checkpoints_while_events_arrive_and_only_then(app: Flask, trail, instance):  # type: ignore[no-untyped-def]
    settings = app.extensions["govern.settings"]
    writer = Checkpointer(db.engine, signing_key(instance, settings.signing_key), [checkpoint_file(instance)],
                          interval=0.3)
    runtime = Runtime(db.engine, refresh_interval=0.05, log_queue_size=100, log_timeout=2.0,
                      checkpoints=writer)
    runtime.start()
    try:
        wait_for(lambda: len(lines(checkpoint_file(instance))) == 1, "the first checkpoint")
        for number in range(6, 9):
            add_event(trail, number)
            wait_for(lambda n=number: lines(checkpoint_file(instance))[-1]["event_id"] == n,
                     f"a checkpoint of event {number}")
        quiet = len(lines(checkpoint_file(instance)))
        time.sleep(1.5)  # several intervals with no event
        assert len(lines(checkpoint_file(instance))) == quiet
    finally:
        runtime.stop()
    found = lines(checkpoint_file(instance))
    assert [line["checkpoint"] for line in found] == list(range(1, len(found) + 1))
    assert found[-1]["event_id"] == trail.execute(select(func.max(AuditEvent.id))).scalar_one()


def test_the_interval_keeps_checkpoints_a_minute_apart(app: Flask, trail, instance):  # type: ignore[no-untyped-def]
    settings = app.extensions["govern.settings"]
    writer = Checkpointer(db.engine, signing_key(instance, settings.signing_key), [checkpoint_file(instance)])

    assert writer.write(min_age=60)[1] is True  # none yet: at once
    add_event(trail, 6)

    assert writer.write(min_age=60)[1] is False  # events arrived, but the last one is fresh
    assert len(lines(checkpoint_file(instance))) == 1


def test_every_served_app_checkpoints_its_trail(app: Flask, trail, instance):  # type: ignore[no-untyped-def]
    app.extensions["govern.runtime"].get()  # as a worker of `govern serve` does when it boots

    wait_for(lambda: lines(checkpoint_file(instance))[-1:] and
             lines(checkpoint_file(instance))[-1]["event_id"] == 5, "a checkpoint of event 5")


# -- offline, from an export -----------------------------------------------------------------------
def export_and_key(govern, tmp_path: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    out = tmp_path / "trail.jsonl"
    assert govern("audit", "export", "-o", str(out)).exit_code == 0
    public = tmp_path / "govern.pub.pem"
    public.write_text(govern("decisions", "public-key").stdout)
    return out, public


def verify_offline(govern, export: Path, public: Path, instance: Path):  # type: ignore[no-untyped-def]
    return govern("audit", "verify", "--export", str(export), "--public-key", str(public),
                  "--checkpoints", str(checkpoint_file(instance)))


def test_an_exported_trail_verifies_offline_against_its_checkpoints(trail, govern, instance, tmp_path):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    export, public = export_and_key(govern, tmp_path)

    result = verify_offline(govern, export, public, instance)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "export intact: 5 event(s), hash chain intact, signed by ")
    assert result.output.splitlines()[1].endswith(") covers event 5")


def test_an_export_of_a_rewritten_chain_fails_offline(trail, govern, instance, tmp_path):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    rewrite_consistently(trail, 3)
    export, public = export_and_key(govern, tmp_path)  # the server signs what its database holds

    result = verify_offline(govern, export, public, instance)

    assert result.exit_code == 1
    assert "export intact: 5 event(s)" in result.output  # chain and manifest alone look fine
    assert "Error: event 5's hash differs from checkpoint 1 (signed " in result.output


def test_an_export_of_a_cut_trail_fails_offline(trail, govern, instance, tmp_path):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    trail.execute(text("DELETE FROM audit_event WHERE id >= 4"))
    trail.commit()
    export, public = export_and_key(govern, tmp_path)

    result = verify_offline(govern, export, public, instance)

    assert result.exit_code == 1
    assert "Error: the export ends at event 3 but checkpoint 1 (signed " in result.output
    assert ("signed before the export started, covers event 5: events were deleted from the end"
            in result.output)


def test_offline_verification_needs_the_public_key_and_checkpoints(trail, govern, tmp_path):  # type: ignore[no-untyped-def]
    export, _ = export_and_key(govern, tmp_path)

    result = govern("audit", "verify", "--export", str(export))

    assert result.exit_code == 2
    assert "--export needs --public-key and at least one --checkpoints file" in result.output
