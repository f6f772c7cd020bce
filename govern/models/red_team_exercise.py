"""A red-team exercise of one governed model: its scope, dates and participants, the findings it
made, and the risk ratings that cite it as evidence."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govern.models.base import Base, UTCDateTime, utcnow

SEVERITIES = ("low", "medium", "high", "critical")
OPEN = "open"
MITIGATED = "mitigated"
ACCEPTED = "accepted"
STATUSES = (OPEN, MITIGATED, ACCEPTED)


class RedTeamExercise(Base):
    __tablename__ = "red_team_exercise"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RedTeamParticipant(Base):
    """Internal (`user` names a govern account, as `user:<username>`) or external (a name and
    an organisation)."""

    __tablename__ = "red_team_participant"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("red_team_exercise.id"), index=True)
    user: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")


class RedTeamFinding(Base):
    __tablename__ = "red_team_finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("red_team_exercise.id"), index=True)
    # The exercise's model, kept here so the sign-off gate finds a model's findings in one query.
    model_id: Mapped[int] = mapped_column(ForeignKey("governed_model.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    reported_by: Mapped[str] = mapped_column(String(200))
    # What mitigated it, or why it was accepted; empty while open.
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RatingEvidence(Base):
    """A risk rating citing a red-team exercise as its evidence."""

    __tablename__ = "rating_evidence"

    rating_id: Mapped[int] = mapped_column(ForeignKey("risk_rating.id"), primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("red_team_exercise.id"), primary_key=True,
                                             index=True)
