"""Safety Advisory Group reviews: recommendations on a scorecard revision, the quorum, and the
separation of duties (nobody reviews their own rating)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.gates import UNRATED
from govern.governance.presets import get_preset
from govern.governance.scorecards import current_raters, model_gate
from govern.models import GovernedModel, SafetyReview
from govern.models.safety_review import OPEN, RECOMMENDATIONS
from govern.policy.store import current_document

SEPARATION_OF_DUTIES = "separation_of_duties"


def record_review(session: Session, *, actor: str, model: GovernedModel, recommendation: str,
                  tier: str | None, rationale: str) -> SafetyReview:
    """A reviewer's recommendation on the current scorecard; a reviewer's newest one counts.

    Raises Forbidden (separation of duties), Conflict (scorecard incomplete), InvalidInput."""
    if recommendation not in RECOMMENDATIONS:
        raise InvalidInput(f"recommendation must be one of {', '.join(RECOMMENDATIONS)}",
                           code="unknown_recommendation")
    if recommendation == OPEN:
        if tier not in current_document(session).tiers:
            raise InvalidInput("choose the tier to open the model to", code="unknown_tier")
    else:
        tier = None
    if not rationale.strip():
        raise InvalidInput("a rationale is required", code="missing_rationale")
    if actor in current_raters(session, model):
        raise Forbidden("separation of duties: you rated this model's scorecard, so you cannot review it",
                        code=SEPARATION_OF_DUTIES)
    if model_gate(session, model).status == UNRATED:
        raise Conflict("every tracked category must be rated before the scorecard can be reviewed",
                       code="scorecard_incomplete")
    review = SafetyReview(model_id=model.id, reviewer=actor, recommendation=recommendation, tier=tier,
                          rationale=rationale.strip(), revision=model.revision)
    session.add(review)
    session.flush()  # the id, so the event names the row it records
    commit_change(session, actor=actor, action="model.review", target=model_target(model.name),
                  after={"id": review.id, "recommendation": recommendation, "tier": tier,
                         "rationale": review.rationale, "revision": model.revision})
    return review


def all_reviews(session: Session, model: GovernedModel) -> list[SafetyReview]:
    """Every review of the model, newest first."""
    return list(session.execute(select(SafetyReview).where(SafetyReview.model_id == model.id)
                                .order_by(SafetyReview.id.desc())).scalars())


def current_reviews(session: Session, model: GovernedModel, *,
                    recorded_after: int = 0) -> list[SafetyReview]:
    """Each reviewer's newest review of the current scorecard revision; with `recorded_after` (a
    review id, see holds.py), only those recorded after that review."""
    latest: dict[str, SafetyReview] = {}
    for review in all_reviews(session, model):
        if review.revision == model.revision:
            latest.setdefault(review.reviewer, review)
    return [review for review in latest.values() if review.id > recorded_after]


@dataclass(frozen=True)
class Quorum:
    needed: int
    # The widest tier (lowest rank) that `needed` distinct reviewers support, or None.
    widest_tier: str | None
    supporters: int  # reviewers recommending to open at all


def quorum(session: Session, model: GovernedModel, tiers: Sequence[str] | None = None, *,
           recorded_after: int = 0) -> Quorum:
    """Which tier a quorum of distinct reviewers supports opening the model to. A recommendation to
    open to tier R supports opening to R and every tier above it. `recorded_after`: as for
    current_reviews."""
    tiers = tiers if tiers is not None else current_document(session).tiers
    needed = get_preset(model.preset).review_quorum
    ranks = sorted(tiers.index(r.tier) for r in current_reviews(session, model, recorded_after=recorded_after)
                   if r.recommendation == OPEN and r.tier in tiers)
    widest = tiers[ranks[needed - 1]] if len(ranks) >= needed else None
    return Quorum(needed, widest, len(ranks))
