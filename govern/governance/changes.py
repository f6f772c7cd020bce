"""Every governance change ends the same way: an audit event, the governance counter moved (so every
worker rebuilds its snapshot), one commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.models import AuditEvent
from govern.models.change_counter import GOVERNANCE, bump_counter


def note_change(session: Session, *, actor: str, action: str, target: str,
                before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEvent:
    """The event and the counter, in the caller's transaction (the caller commits); returns the event."""
    event = record_event(session, actor=actor, action=action, target=target, before=before, after=after)
    bump_counter(session, GOVERNANCE)
    return event


def commit_change(session: Session, *, actor: str, action: str, target: str,
                  before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    note_change(session, actor=actor, action=action, target=target, before=before, after=after)
    session.commit()


def model_target(name: str) -> str:
    return f"model:{name}"
