"""The launch checklist of a model version: who owns each item, its evidence and state, and
whether the checklist is complete for a sign-off (the live checks run at that moment).

An item counts as recorded only as the audit trail recorded it: a row changed behind the service's
back (a direct database write) no longer matches its newest `model.checklist_item` event and
counts as open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.changes import model_target, note_change
from govern.governance.live_checks import CheckResult, LiveFacts, run_check
from govern.governance.presets import Checklist, ChecklistItemSpec, get_preset, preset_checklist
from govern.governance.registry import check_current
from govern.identity.people import ACCOUNT_ACTOR, account_named, is_among
from govern.models import AuditEvent, ChecklistItem, GovernedModel
from govern.models.base import utcnow
from govern.models.checklist_item import DONE, NOT_APPLICABLE, OPEN, STATES

ITEM_ACTION = "model.checklist_item"
CHECKLIST_INCOMPLETE = "checklist_incomplete"
MAX_EVIDENCE = 5000


@dataclass(frozen=True)
class Entry:
    """One item as it stands: what people recorded, and the live check's answer now."""

    spec: ChecklistItemSpec
    state: str
    owner: str | None
    evidence: str
    updated_by: str | None
    updated_at: datetime | None
    check: CheckResult | None
    tampered: bool  # the row does not match what the trail recorded

    @property
    def complete(self) -> bool:
        return (not self.tampered and self.state in (DONE, NOT_APPLICABLE)
                and (self.check is None or self.check.passed))

    @property
    def missing_reason(self) -> str:
        if self.tampered:
            return "its record does not match the audit trail"
        if self.state == OPEN:
            return "open"
        if self.check is not None and not self.check.passed:
            return f"its live check failed: {self.check.detail}"
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.spec.id, "title": self.spec.title, "state": self.state, "owner": self.owner,
                "evidence": self.evidence, "check": self.spec.check,
                "check_passed": self.check.passed if self.check else None,
                "check_detail": self.check.detail if self.check else None,
                "complete": self.complete, "missing_reason": self.missing_reason or None}


@dataclass(frozen=True)
class ChecklistState:
    checklist: Checklist
    tier: str  # the tier the live checks were run for
    entries: tuple[Entry, ...]

    @property
    def missing(self) -> tuple[Entry, ...]:
        return tuple(entry for entry in self.entries if not entry.complete)

    @property
    def complete(self) -> bool:
        return not self.missing


FACT_KEYS = ("model_id", "item", "state", "owner", "evidence")


def _facts(row: ChecklistItem) -> dict[str, Any]:
    return {"model_id": row.model_id, "item": row.item_id, "state": row.state, "owner": row.owner,
            "evidence": row.evidence}


def _recorded(session: Session, model: GovernedModel) -> dict[str, dict[str, Any]]:
    """Each item's state as its newest event in the trail has it."""
    events = session.execute(select(AuditEvent.after).where(AuditEvent.target == model_target(model.name),
                                                            AuditEvent.action == ITEM_ACTION)
                             .order_by(AuditEvent.id)).scalars()
    return {str(after["item"]): {key: after.get(key) for key in FACT_KEYS} for after in events
            if after is not None and after.get("model_id") == model.id}


def _rows(session: Session, model: GovernedModel) -> dict[str, ChecklistItem]:
    rows = session.execute(select(ChecklistItem).where(ChecklistItem.model_id == model.id)).scalars()
    return {row.item_id: row for row in rows}


def checklist_state(session: Session, model: GovernedModel, *, tier: str,
                    facts: LiveFacts | None) -> ChecklistState:
    """The model version's checklist, its live checks run now for a sign-off opening `tier`."""
    checklist = preset_checklist(get_preset(model.preset))
    rows, recorded = _rows(session, model), _recorded(session, model)
    entries = []
    for spec in checklist.items:
        row = rows.get(spec.id)
        check = run_check(session, spec.check, tier=tier, facts=facts) if spec.check else None
        if row is None:
            entries.append(Entry(spec, OPEN, None, "", None, None, check, tampered=False))
            continue
        entries.append(Entry(spec, row.state, row.owner, row.evidence, row.updated_by, row.updated_at, check,
                             tampered=recorded.get(spec.id) != _facts(row)))
    return ChecklistState(checklist, tier, tuple(entries))


def check_checklist(session: Session, *, actor: str, model: GovernedModel, tier: str,
                    facts: LiveFacts | None) -> ChecklistState:
    """Raises Forbidden when the approver recorded an item of the checklist (separation of duties:
    nobody approves what they attested), Conflict `checklist_incomplete` naming the missing items
    (and listing them in `details["missing"]`) unless every item is complete now."""
    state = checklist_state(session, model, tier=tier, facts=facts)
    if is_among(session, actor, [e.updated_by for e in state.entries if e.updated_by and e.state != OPEN]):
        raise Forbidden("separation of duties: you recorded an item of this model's launch checklist, so "
                        "you cannot approve it", code="separation_of_duties")
    if state.missing:
        raise Conflict("the launch checklist is not complete: "
                       + "; ".join(f"{e.spec.title} ({e.missing_reason})" for e in state.missing),
                       code=CHECKLIST_INCOMPLETE,
                       details={"missing": [{"item": e.spec.id, "title": e.spec.title,
                                             "reason": e.missing_reason} for e in state.missing]})
    return state


def checklist_summary(state: ChecklistState) -> dict[str, str]:
    """item id -> state, as a sign-off's audit event records what it rested on."""
    return {entry.spec.id: entry.state for entry in state.entries}


def _owner(session: Session, owner: str | None) -> str | None:
    if owner is None or not owner.strip():
        return None
    username = owner.strip().removeprefix(ACCOUNT_ACTOR)
    return ACCOUNT_ACTOR + account_named(session, username).username


@dataclass(frozen=True)
class ItemUpdate:
    item_id: str
    state: str
    owner: str | None = None  # an account's username (or `user:<username>`)
    evidence: str = ""


def update_item(session: Session, *, actor: str, model: GovernedModel, item_id: str, state: str,
                owner: str | None, evidence: str = "") -> ChecklistItem:
    """Record an item's owner (an account's username), evidence and state on the model version.
    `done` needs evidence and an owner; `not_applicable` a rationale (in `evidence`).

    Raises InvalidInput, NotFound (no such account), Conflict (a retired or superseded version)."""
    return update_items(session, actor=actor, model=model,
                        updates=[ItemUpdate(item_id, state, owner, evidence)])[0]


def update_items(session: Session, *, actor: str, model: GovernedModel,
                 updates: Sequence[ItemUpdate]) -> list[ChecklistItem]:
    """Several items at once, as update_item records each (one event each), in one transaction:
    all of them or, raising as update_item does, none."""
    check_current(session, model)
    checklist = preset_checklist(get_preset(model.preset))
    rows = _rows(session, model)
    changed = []
    try:
        for update in updates:
            row = _apply(session, actor=actor, model=model, spec=checklist.item(update.item_id),
                         update=update, row=rows.get(update.item_id))
            rows[row.item_id] = row
            changed.append(row)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return changed


def _apply(session: Session, *, actor: str, model: GovernedModel, spec: ChecklistItemSpec,
           update: ItemUpdate, row: ChecklistItem | None) -> ChecklistItem:
    if update.state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", code="invalid_checklist_state")
    evidence = update.evidence.strip()
    if len(evidence) > MAX_EVIDENCE:
        raise InvalidInput(f"evidence must be at most {MAX_EVIDENCE} characters", code="evidence_too_long")
    owner_actor = _owner(session, update.owner)
    if update.state == DONE and (not evidence or owner_actor is None):
        raise InvalidInput(f"marking {spec.title!r} done needs its owner and evidence",
                           code="missing_evidence")
    if update.state == NOT_APPLICABLE and not evidence:
        raise InvalidInput(f"{spec.title!r} can be not applicable only with a rationale",
                           code="missing_rationale")
    before = _facts(row) if row is not None else None
    if row is None:
        row = ChecklistItem(model_id=model.id, item_id=spec.id)
        session.add(row)
    row.state, row.owner, row.evidence = update.state, owner_actor, evidence
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()
    note_change(session, actor=actor, action=ITEM_ACTION, target=model_target(model.name),
                before=before, after={**_facts(row), "version": model.version, "title": spec.title})
    return row
