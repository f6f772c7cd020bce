"""The event types, which audit actions they come from, and whose role each concerns (the people it
is e-mailed to). docs/notifications.md has the same table for operators."""

from __future__ import annotations

from dataclasses import dataclass

from govern.errors import InvalidInput, shorten


@dataclass(frozen=True)
class EventType:
    name: str
    summary: str
    roles: frozenset[str]  # who gets it by e-mail (unless they muted it)


def _type(name: str, summary: str, *roles: str) -> EventType:
    return EventType(name, summary, frozenset(roles))


EVENT_TYPES: dict[str, EventType] = {kind.name: kind for kind in (
    _type("rating.changed", "a risk rating was recorded or changed", "reviewer", "approver"),
    _type("review.needed", "a model was rated and its reviewer quorum is not met", "reviewer"),
    _type("signoff.made", "a model was signed off for a tier", "approver", "board"),
    _type("signoff.reversed", "the board reversed a sign-off", "approver", "board"),
    _type("signoff.expiring", "a sign-off expires within the warning period", "approver"),
    _type("signoff.expired", "a sign-off expired", "approver", "board"),
    _type("model.suspended", "a model was suspended", "admin", "approver", "board"),
    _type("model.suspension_lifted", "a model's suspension was lifted", "admin", "approver", "board"),
    _type("change.proposed", "a guarded change waits for a second admin", "admin"),
    _type("change.approved", "a second admin approved a guarded change", "admin"),
    _type("change.applied", "a guarded change applied alone (single admin or host break-glass)", "admin"),
    _type("change.rejected", "a guarded change was rejected", "admin"),
    _type("key.expiring", "an API key expires within the warning period", "admin"),
    _type("key.expired", "an API key expired", "admin"),
    _type("limit.threshold", "an organisation's use of a budget passed 80 % or 100 % of it", "admin"),
    _type("access_request.made", "someone asked for access", "admin"),
    _type("access_request.decided", "an access request was decided", "admin"),
    _type("incident.opened", "an incident was opened", "admin", "reviewer", "approver", "board"),
    _type("incident.updated", "an incident's severity or state changed", "admin", "reviewer", "approver",
          "board"),
    _type("review.due", "a deployed model's scheduled re-review is due within 14 days", "reviewer"),
    _type("review.overdue", "a deployed model's scheduled re-review is overdue", "reviewer", "approver",
          "board"),
)}

# Audit action → the event types it yields. review.needed is added to model.rate only while the
# model's quorum is not met (govern.notifications.outbox decides).
ACTION_TYPES: dict[str, tuple[str, ...]] = {
    "model.rate": ("rating.changed",),
    "model.sign_off": ("signoff.made",),
    "model.reverse_sign_off": ("signoff.reversed",),
    "model.suspend": ("model.suspended",),
    "model.lift_suspension": ("model.suspension_lifted",),
    "proposal.create": ("change.proposed",),
    "proposal.approve": ("change.approved",),
    "proposal.apply": ("change.applied",),
    "proposal.reject": ("change.rejected",),
    "access_request.create": ("access_request.made",),
    "access_request.decide": ("access_request.decided",),
    "incident.open": ("incident.opened",),
    "incident.severity": ("incident.updated",),
    "incident.state": ("incident.updated",),
    # The dispatcher's own scan records these (see govern.notifications.expiries).
    "notify.signoff_expiring": ("signoff.expiring",),
    "notify.signoff_expired": ("signoff.expired",),
    "notify.key_expiring": ("key.expiring",),
    "notify.key_expired": ("key.expired",),
    "notify.review_due": ("review.due",),
    "notify.review_overdue": ("review.overdue",),
    "budget.threshold": ("limit.threshold",),
}


def check_types(names: list[str]) -> list[str]:
    """`names` deduplicated in catalogue order; raises InvalidInput for an unknown one or none."""
    unknown = sorted(set(names) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"unknown event type {shorten(', '.join(unknown))}; the types are "
                           f"{', '.join(EVENT_TYPES)}", code="invalid_event_type")
    if not names:
        raise InvalidInput("choose at least one event type", code="invalid_event_type")
    return [name for name in EVENT_TYPES if name in names]
