"""Preparedness scorecards: a pre- and post-mitigation level per tracked category, with evidence and
the rater; every change is kept as history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.gates import Gate, Levels, compute_gate
from govern.governance.presets import get_preset
from govern.governance.red_team import check_evidence, cite_evidence
from govern.models import GovernedModel, RiskRating

MAX_EVIDENCE = 10_000


def rate_category(session: Session, *, actor: str, model: GovernedModel, category: str, pre_level: str,
                  post_level: str, evidence: str, links: str = "",
                  exercises: Sequence[int] = ()) -> RiskRating:
    """Record a new rating of one category; it starts a new scorecard revision, so earlier reviews
    no longer count toward the quorum. `exercises`: ids of red-team exercises of the model the
    rating cites as evidence. Raises InvalidInput."""
    preset = get_preset(model.preset)
    preset.category(category)
    for label, level in (("pre-mitigation", pre_level), ("post-mitigation", post_level)):
        if level not in preset.levels:
            raise InvalidInput(f"{label} level must be one of {', '.join(preset.levels)}",
                               code="unknown_level")
    if preset.rank(post_level) > preset.rank(pre_level):
        raise InvalidInput("the post-mitigation level cannot be above the pre-mitigation level",
                           code="post_above_pre")
    if not evidence.strip():
        raise InvalidInput("evidence is required", code="missing_evidence")
    if len(evidence) > MAX_EVIDENCE or len(links) > MAX_EVIDENCE:
        raise InvalidInput(f"evidence and links are limited to {MAX_EVIDENCE} characters",
                           code="evidence_too_long")
    cited = check_evidence(session, model, exercises)
    previous = current_scorecard(session, model).get(category)
    model.revision += 1
    rating = RiskRating(model_id=model.id, category=category, pre_level=pre_level, post_level=post_level,
                        evidence=evidence.strip(), links=links.strip(), rater=actor, revision=model.revision)
    session.add(rating)
    session.flush()  # the id, so the event names the row it records
    cite_evidence(session, rating.id, cited)
    commit_change(session, actor=actor, action="model.rate", target=model_target(model.name),
                  before=_facts(previous) if previous else None,
                  after={**_facts(rating), **({"exercises": cited} if cited else {})})
    return rating


def _facts(rating: RiskRating) -> dict[str, object]:
    return {"id": rating.id, "revision": rating.revision, "category": rating.category,
            "pre_level": rating.pre_level, "post_level": rating.post_level,
            "evidence": rating.evidence, "links": rating.links}


def rating_history(session: Session, model: GovernedModel) -> list[RiskRating]:
    """Every rating of the model, newest first."""
    return list(session.execute(select(RiskRating).where(RiskRating.model_id == model.id)
                                .order_by(RiskRating.id.desc())).scalars())


def current_scorecard(session: Session, model: GovernedModel) -> dict[str, RiskRating]:
    """The newest rating of each rated category."""
    card: dict[str, RiskRating] = {}
    for rating in rating_history(session, model):
        card.setdefault(rating.category, rating)
    return card


def model_gate(session: Session, model: GovernedModel) -> Gate:
    card = current_scorecard(session, model)
    return compute_gate(get_preset(model.preset),
                        {c: Levels(r.pre_level, r.post_level) for c, r in card.items()})


def current_raters(session: Session, model: GovernedModel) -> frozenset[str]:
    return frozenset(rating.rater for rating in current_scorecard(session, model).values())
