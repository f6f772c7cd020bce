"""Read models for the UI: one model's whole governance state, the list's badges, what awaits
review or sign-off, and the people behind one sign-off (for the decisions made under it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.governance.gates import UNRATED, Gate
from govern.governance.holds import HoldStatus, hold_status
from govern.governance.presets import Preset, get_preset
from govern.governance.re_reviews import ReReviewStatus, re_review_status
from govern.governance.registry import list_models
from govern.governance.reviews import Quorum, current_reviews, quorum
from govern.governance.scorecards import current_scorecard, model_gate
from govern.governance.signoffs import all_sign_offs, sign_off_in_force
from govern.models import GovernanceHold, GovernedModel, RiskRating, SafetyReview, SignOff
from govern.policy.store import current_document


@dataclass(frozen=True)
class ModelOverview:
    model: GovernedModel
    preset: Preset
    gate: Gate
    scorecard: dict[str, RiskRating]
    quorum: Quorum
    reviews: list[SafetyReview]  # each reviewer's newest, of the current revision
    sign_offs: list[SignOff]  # newest first
    signed_off: SignOff | None  # the sign-off in force, if any
    open_from: str | None  # lowest tier that reaches the model; None when suspended
    tiers: tuple[str, ...]
    hold: HoldStatus | None  # what signing the model off again waits for, after a reversal
    re_review: ReReviewStatus | None = None  # the deployed model's scheduled re-review

    @property
    def awaiting_review(self) -> bool:
        fresh_needed = self.hold is not None and self.hold.supporters() < self.hold.reviews_needed
        return (self.gate.status != "unrated" and (self.quorum.widest_tier is None or fresh_needed)
                and self.signed_off is None and not self.model.suspended)

    @property
    def awaiting_rating(self) -> bool:
        """Some tracked category of the current revision has no rating yet."""
        return self.gate.status == UNRATED and not self.model.suspended

    @property
    def awaiting_sign_off(self) -> bool:
        return (self.gate.deployable and self.quorum.widest_tier is not None
                and (self.hold is None or not self.hold.waiting_for())
                and self.signed_off is None and not self.model.suspended)


def model_overview(session: Session, model: GovernedModel, now: datetime,
                   tiers: tuple[str, ...] | None = None) -> ModelOverview:
    tiers = tiers or current_document(session).tiers
    gate = model_gate(session, model)
    sign_offs = all_sign_offs(session, model)
    hold = hold_status(session, model, tiers)
    in_force_now = sign_off_in_force(session, model, now)
    signed_off = in_force_now if in_force_now is not None and gate.deployable else None
    open_from = None if model.suspended else signed_off.tier if signed_off is not None else tiers[-1]
    return ModelOverview(model, get_preset(model.preset), gate, current_scorecard(session, model),
                         quorum(session, model, tiers), current_reviews(session, model), sign_offs,
                         signed_off, open_from, tiers, hold, re_review_status(session, model, now))


def all_overviews(session: Session, now: datetime, models: list[GovernedModel] | None = None
                  ) -> list[ModelOverview]:
    """The overview of each of `models` (default: every model under governance)."""
    tiers = current_document(session).tiers
    chosen = list_models(session) if models is None else models
    return [model_overview(session, model, now, tiers) for model in chosen]



@dataclass(frozen=True)
class SignOffTrace:
    """One sign-off with what it rested on: its model, the scorecard revision it signed, the reviews
    of that revision that counted when it was given (each reviewer's newest; after a reversal, only
    those recorded after it) and the hold it ended, with the board member who released it."""

    sign_off: SignOff
    model: GovernedModel
    reviews: list[SafetyReview]
    hold: GovernanceHold | None


def trace_sign_off(session: Session, sign_off_id: int) -> SignOffTrace | None:
    """The sign-off and the people behind it; None when no such sign-off is on record."""
    signed = session.get(SignOff, sign_off_id)
    if signed is None:
        return None
    model = session.get_one(GovernedModel, signed.model_id)
    hold = session.execute(select(GovernanceHold)
                           .where(GovernanceHold.ended_by_sign_off_id == signed.id)).scalar()
    found = session.execute(
        select(SafetyReview).where(SafetyReview.model_id == model.id,
                                   SafetyReview.revision == signed.revision,
                                   SafetyReview.created_at <= signed.created_at)
        .order_by(SafetyReview.id.desc())).scalars()
    newest: dict[str, SafetyReview] = {}
    for review in found:
        newest.setdefault(review.reviewer, review)
    counted = [r for r in newest.values() if hold is None or r.id > hold.last_review_id]
    return SignOffTrace(signed, model, counted, hold)
