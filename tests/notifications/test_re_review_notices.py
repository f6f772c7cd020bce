"""Re-reviews due and overdue are recorded once each by the dispatcher's scan, as expiries are, and
become the review.due and review.overdue events."""

from __future__ import annotations

from datetime import timedelta

from factories import make_signed_model
from sqlalchemy import select

from govern.governance.re_reviews import record_re_review
from govern.models import AuditEvent
from govern.notifications.catalogue import ACTION_TYPES, EVENT_TYPES
from govern.notifications.expiries import scan_expiries

DAY = timedelta(days=1)


def notices(session) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    rows = session.execute(select(AuditEvent).where(AuditEvent.action.like("notify.review_%"))
                           .order_by(AuditEvent.id)).scalars()
    return [(e.action, e.target, e.after["due_at"]) for e in rows]


def test_a_due_and_an_overdue_re_review_are_each_recorded_once(session):  # type: ignore[no-untyped-def]
    model, signed = make_signed_model(session, "atlas")
    due = signed.created_at + 90 * DAY
    assert scan_expiries(session, now=signed.created_at + 75 * DAY, warn_days=7) == 0
    assert scan_expiries(session, now=signed.created_at + 77 * DAY, warn_days=7) == 1
    assert scan_expiries(session, now=signed.created_at + 78 * DAY, warn_days=7) == 0
    assert scan_expiries(session, now=due + DAY, warn_days=7) == 1
    assert scan_expiries(session, now=due + 2 * DAY, warn_days=7) == 0
    assert notices(session) == [("notify.review_due", "model:atlas", due.isoformat()),
                                ("notify.review_overdue", "model:atlas", due.isoformat())]
    # A re-review moves the date: the next one is announced again, once.
    review = record_re_review(session, actor="user:rev3", model=model, recommendation="continue",
                              rationale="fine", now=due + 2 * DAY)
    assert scan_expiries(session, now=review.created_at + 80 * DAY, warn_days=7) == 1
    next_due = review.created_at + 90 * DAY
    assert notices(session)[-1] == ("notify.review_due", "model:atlas", next_due.isoformat())


def test_the_catalogue_maps_the_scan_to_the_review_events() -> None:
    assert ACTION_TYPES["notify.review_due"] == ("review.due",)
    assert ACTION_TYPES["notify.review_overdue"] == ("review.overdue",)
    assert EVENT_TYPES["review.due"].roles == frozenset({"reviewer"})
    assert EVENT_TYPES["review.overdue"].roles == frozenset({"reviewer", "approver", "board"})
    assert EVENT_TYPES["incident.opened"].roles == frozenset({"admin", "reviewer", "approver", "board"})
