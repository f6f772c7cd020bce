"""Counters every worker polls to notice changes made by other processes or nodes.

A service bumps a counter in the same transaction as its change; govern.decisions.runtime polls
them and rebuilds the policy snapshot or forgets cached keys when one moves."""

from __future__ import annotations

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from govern.models.base import Base

POLICY = "policy"
PRINCIPALS = "principals"
ISSUERS = "issuers"
GOVERNANCE = "governance"


class ChangeCounter(Base):
    __tablename__ = "change_counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


def bump_counter(session: Session, name: str) -> int:
    """Increment counter `name` inside the session's transaction and return its new value.

    The UPDATE takes the row lock first, so concurrent writers get distinct values."""
    session.execute(update(ChangeCounter).where(ChangeCounter.name == name)
                    .values(value=ChangeCounter.value + 1))
    return session.execute(select(ChangeCounter.value).where(ChangeCounter.name == name)).scalar_one()
