"""Time-based events: a sign-off or an API key expiring within the warning period, and expired; a
deployed model's scheduled re-review due (within DUE_WITHIN) and overdue.

Nothing changes in the database when a date passes, so the dispatcher's scan records an audit
event for each (`notify.signoff_expiring`, ...) which the outbox then fans out like any other. A
mark keyed by (event, target, expiry time) makes each one happen once, however many scans run:
an expiry moved later warns again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.governance.re_reviews import OVERDUE, re_review_status
from govern.governance.registry import list_models
from govern.governance.schedule import DUE_WITHIN
from govern.models.api_key import ApiKey
from govern.models.governed_model import GovernedModel
from govern.models.notification_outbox import NotificationMark
from govern.models.sign_off import SignOff

ACTOR = "govern:notifications"
# subject -> (state within the warning period, state once the time has passed); the event's action
# is notify.<subject>_<state>.
STATES = {"signoff": ("expiring", "expired"), "key": ("expiring", "expired"), "review": ("due", "overdue")}


def _sign_offs(session: Session, horizon: datetime) -> Iterator[tuple[str, str, datetime, dict[str, object]]]:
    newest = select(func.max(SignOff.id)).group_by(SignOff.model_id)
    rows = session.execute(select(SignOff, GovernedModel.name)
                           .join(GovernedModel, GovernedModel.id == SignOff.model_id)
                           .where(SignOff.id.in_(newest), SignOff.reversed_at.is_(None),
                                  SignOff.expires_at.is_not(None), SignOff.expires_at <= horizon,
                                  GovernedModel.retired_at.is_(None)))
    for signed, name in rows:
        assert signed.expires_at is not None
        yield "signoff", f"model:{name}", signed.expires_at, {
            "sign_off_id": signed.id, "tier": signed.tier, "expires_at": signed.expires_at.isoformat()}


def _keys(session: Session, horizon: datetime) -> Iterator[tuple[str, str, datetime, dict[str, object]]]:
    rows = session.execute(select(ApiKey).where(ApiKey.revoked_at.is_(None), ApiKey.expires_at.is_not(None),
                                                ApiKey.expires_at <= horizon)).scalars()
    for key in rows:
        assert key.expires_at is not None
        yield "key", f"key:{key.prefix}", key.expires_at, {
            "prefix": key.prefix, "kind": key.kind, "name": key.name,
            "expires_at": key.expires_at.isoformat()}


def _re_reviews(session: Session, now: datetime) -> Iterator[tuple[str, str, datetime, dict[str, object]]]:
    for model in list_models(session):
        status = re_review_status(session, model, now) if model.retired_at is None else None
        if status is not None and status.due_at - now <= DUE_WITHIN:
            yield "review", f"model:{model.name}", status.due_at, {
                "version": model.version, "sign_off_id": status.sign_off.id,
                "due_at": status.due_at.isoformat(),
                "closes_access": status.closes_access and status.state == OVERDUE}


def scan_expiries(session: Session, *, now: datetime, warn_days: int) -> int:
    """Record the expiring and expired (due and overdue) events not recorded yet; returns how many."""
    horizon = now + timedelta(days=warn_days)
    found = [*_sign_offs(session, horizon), *_keys(session, horizon), *_re_reviews(session, now)]
    done = set(session.execute(select(NotificationMark.key)).scalars()) if found else set()
    session.rollback()
    recorded = 0
    for subject, target, expires_at, facts in found:
        soon, passed = STATES[subject]
        state = passed if expires_at <= now else soon
        key = f"{subject}.{state}:{target}:{expires_at.isoformat()}"
        if key in done:
            continue
        session.add(NotificationMark(key=key, created_at=now))
        record_event(session, actor=ACTOR, action=f"notify.{subject}_{state}", target=target, after=facts)
        try:
            session.commit()
            recorded += 1
        except IntegrityError:  # another scan recorded it first
            session.rollback()
    return recorded
