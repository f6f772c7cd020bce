"""The hash-chained audit trail: events link to the one before; any edit, deletion or insertion
made behind govern's back is found by verify_chain and `govern audit verify`, at the first bad event."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from govern.audit.trail import event_hash, record_event, verify_chain
from govern.extensions import db
from govern.models import AuditEvent

# The template database already holds event 1 (the default policy being seeded); each test adds
# events 2 to 5, so a tampered event 3 is always in the middle of the chain.
LAST = 5


@pytest.fixture
def chain(session: Session) -> Session:
    """A committed trail of events 1 to 5."""
    assert session.execute(select(func.max(AuditEvent.id))).scalar_one() == 1
    record_event(session, actor="user:alice", action="org.create", target="org:1",
                 after={"name": "acme", "tier": "verified"})
    record_event(session, actor="user:alice", action="org.update", target="org:1",
                 before={"name": "acme", "tier": "verified"}, after={"name": "acme", "tier": "trusted"})
    record_event(session, actor="user:bob", action="key.revoke", target="key:gvk_0123456789ab")
    record_event(session, actor="user:alice", action="org.delete", target="org:1",
                 before={"name": "acme", "tier": "trusted"})
    session.commit()
    return session


def tamper(session: Session, *statements: str, **params: Any) -> None:
    """Change the table directly, as someone with database access could."""
    for statement in statements:
        session.execute(text(statement), params)
    session.commit()


def first_break(session: Session) -> tuple[int, str] | None:
    _, broken = verify_chain(session)
    return (broken.event_id, broken.problem) if broken else None


def splice_in_at_3(session: Session, forged_hash: str | None) -> None:
    """Move events 3.. up by one and put a forged event 3 linked to event 2; `forged_hash` None
    means the forger computes a hash that matches the forged contents."""
    tamper(session,
           "UPDATE audit_event SET id = -id WHERE id >= 3",
           "UPDATE audit_event SET id = -id + 1 WHERE id < 0")
    event_2 = session.get(AuditEvent, 2)
    assert event_2 is not None
    created_at = event_2.created_at
    values = dict(event_id=3, created_at=created_at, actor="user:mallory", action="org.update",
                  target="org:1", before=None, after={"tier": "internal"}, prev_hash=event_2.hash)
    session.add(AuditEvent(
        id=3, created_at=created_at, actor="user:mallory", action="org.update", target="org:1",
        before=None, after={"tier": "internal"}, prev_hash=event_2.hash,
        hash=forged_hash or event_hash(**values),
    ))
    session.commit()


# -- an intact trail -------------------------------------------------------------------------------
def test_intact_chain_verifies(chain: Session) -> None:
    assert verify_chain(chain) == (LAST, None)


def test_each_event_links_to_the_one_before(chain: Session) -> None:
    events = chain.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()

    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash


def test_verify_reads_the_chain_in_batches(chain: Session) -> None:
    assert verify_chain(chain, batch=2) == (LAST, None)


def test_event_is_part_of_the_callers_transaction(chain: Session) -> None:
    record_event(chain, actor="user:alice", action="org.create", target="org:2")
    chain.rollback()

    assert chain.execute(select(func.max(AuditEvent.id))).scalar_one() == LAST
    assert verify_chain(chain) == (LAST, None)


def test_appending_after_verification_keeps_the_chain_intact(chain: Session) -> None:
    verify_chain(chain)
    record_event(chain, actor="user:alice", action="org.create", target="org:2")
    chain.commit()

    assert verify_chain(chain) == (LAST + 1, None)


def test_event_time_read_back_in_another_time_zone_still_verifies(chain: Session) -> None:
    # PostgreSQL hands timestamps back in the session's time zone, which need not be UTC.
    event = chain.get(AuditEvent, 3)
    assert event is not None
    column_type = AuditEvent.__table__.c.created_at.type
    in_new_york = event.created_at.astimezone(timezone(timedelta(hours=-5)))

    read_back = column_type.process_result_value(in_new_york, db.engine.dialect)

    assert read_back.tzinfo == UTC
    assert event_hash(event.id, read_back, event.actor, event.action, event.target, event.before,
                      event.after, event.prev_hash) == event.hash


# -- tampering -------------------------------------------------------------------------------------
@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'user:mallory' WHERE id = 3",
    "UPDATE audit_event SET action = 'org.create' WHERE id = 3",
    "UPDATE audit_event SET target = 'key:gvk_ffffffffffff' WHERE id = 3",
    """UPDATE audit_event SET "after" = '{"name": "acme", "tier": "internal"}' WHERE id = 3""",
    """UPDATE audit_event SET "before" = '{"name": "acme", "tier": "free"}' WHERE id = 3""",
    "UPDATE audit_event SET created_at = '2020-01-01 00:00:00.000000' WHERE id = 3",
], ids=["actor", "action", "target", "after", "before", "created_at"])
def test_edited_field_is_reported_at_that_event(chain: Session, statement: str) -> None:
    tamper(chain, statement)

    assert first_break(chain) == (3, "contents do not match its hash (edited)")


def test_edit_with_a_recomputed_hash_is_reported_at_the_next_event(chain: Session) -> None:
    event = chain.get(AuditEvent, 3)
    assert event is not None
    forged = event_hash(3, event.created_at, "user:mallory", event.action, event.target,
                        event.before, event.after, event.prev_hash)
    tamper(chain, "UPDATE audit_event SET actor = 'user:mallory', hash = :forged WHERE id = 3",
           forged=forged)

    assert first_break(chain) == (4, "previous-hash link does not match the event before")


def test_deleted_middle_event_is_reported(chain: Session) -> None:
    tamper(chain, "DELETE FROM audit_event WHERE id = 3")

    assert first_break(chain) == (3, "event 3 is missing")


def test_deleted_first_event_is_reported(chain: Session) -> None:
    tamper(chain, "DELETE FROM audit_event WHERE id = 1")

    assert first_break(chain) == (1, "event 1 is missing")


def test_forged_event_inserted_in_the_middle_is_reported(chain: Session) -> None:
    splice_in_at_3(chain, forged_hash="f" * 64)

    assert first_break(chain) == (3, "contents do not match its hash (edited)")


def test_forged_event_with_a_matching_hash_breaks_the_link_after_it(chain: Session) -> None:
    splice_in_at_3(chain, forged_hash=None)

    assert first_break(chain) == (4, "previous-hash link does not match the event before")


def test_forged_event_appended_at_the_end_is_reported(chain: Session) -> None:
    tamper(chain, """
        INSERT INTO audit_event (id, created_at, actor, action, target, "before", "after",
                                 prev_hash, hash)
        SELECT id + 1, created_at, 'user:mallory', 'key.issue', 'key:gvk_ffffffffffff', NULL, NULL,
               hash, :forged
        FROM audit_event WHERE id = :last
    """, forged="e" * 64, last=LAST)

    assert first_break(chain) == (LAST + 1, "contents do not match its hash (edited)")


def test_only_the_first_break_is_reported(chain: Session) -> None:
    tamper(chain,
           "UPDATE audit_event SET actor = 'user:mallory' WHERE id = 4",
           "UPDATE audit_event SET actor = 'user:mallory' WHERE id = 2")

    assert first_break(chain) == (2, "contents do not match its hash (edited)")
    assert verify_chain(chain)[0] == 1  # events checked before the break


# -- govern audit verify ---------------------------------------------------------------------------
def test_cli_verify_exits_zero_when_intact(chain: Session, govern) -> None:  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")

    result = govern("audit", "verify")

    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"audit trail intact: {LAST} event(s) verified"


def test_cli_verify_names_the_edited_event(chain: Session, govern) -> None:  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    tamper(chain, "UPDATE audit_event SET actor = 'user:mallory' WHERE id = 3")

    result = govern("audit", "verify")

    assert result.exit_code != 0
    assert "Error: audit trail broken at event 3: contents do not match its hash (edited)\n" in result.output


def test_cli_verify_names_the_missing_event(chain: Session, govern) -> None:  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    tamper(chain, "DELETE FROM audit_event WHERE id = 4")

    result = govern("audit", "verify")

    assert result.exit_code != 0
    assert "Error: audit trail broken at event 4: event 4 is missing\n" in result.output
