"""A reversal holds. After the board reverses a sign-off (or a suspension is lifted, when the model's
preset asks for it), signing the model off again needs a quorum of reviews recorded after that
moment and, unless the preset switches it off, a board member's release of the hold with a
rationale. The next sign-off ends the hold; until then no earlier sign-off is in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.changes import commit_change, model_target
from govern.governance.presets import get_preset
from govern.governance.reviews import SEPARATION_OF_DUTIES, current_reviews
from govern.models import GovernanceHold, GovernedModel, SafetyReview, SignOff
from govern.models.base import utcnow
from govern.models.governance_hold import REVERSAL, SUSPENSION_LIFTED
from govern.models.safety_review import OPEN

CAUSES = {REVERSAL: "the board's reversal", SUSPENSION_LIFTED: "the lifting of the suspension"}


@dataclass(frozen=True)
class HoldStatus:
    """What an open hold waits for, as plain facts."""

    id: int
    cause: str  # REVERSAL or SUSPENSION_LIFTED
    since: datetime
    tiers: tuple[str, ...]
    reviews_needed: int
    # The tier each reviewer recommends opening to, of the reviews recorded after the hold started.
    fresh_tiers: tuple[str, ...]
    release_needed: bool
    released_by: str | None
    released_at: datetime | None
    release_rationale: str | None

    def supporters(self, tier: str | None = None) -> int:
        """Fresh reviews recommending to open (to `tier` or a lower tier, when given)."""
        if tier is None:
            return len(self.fresh_tiers)
        return sum(1 for t in self.fresh_tiers if self.tiers.index(t) <= self.tiers.index(tier))

    def waiting_for(self, tier: str | None = None) -> tuple[str, ...]:
        """What is still missing before a sign-off (to `tier`, when given) may be made."""
        missing: list[str] = []
        if self.supporters(tier) < self.reviews_needed:
            wanted = f" recommending {tier} or a lower tier" if tier else " recommending to open"
            missing.append(f"{self.reviews_needed} reviews{wanted} recorded after it "
                           f"({self.supporters(tier)} so far)")
        if self.release_needed and self.released_by is None:
            missing.append("a board member's release")
        return tuple(missing)

    def summary(self, tier: str | None = None) -> str:
        """e.g. "Held since the board's reversal on 2026-12-01 21:40 UTC: needs 2 reviews ... (1 so far)
        and a board member's release"."""
        head = f"Held since {CAUSES[self.cause]} on {self.since.strftime('%Y-%m-%d %H:%M')} UTC"
        missing = self.waiting_for(tier)
        if not missing:
            return f"{head}: the fresh reviews are in" + (
                f" and {self.released_by} released it" if self.released_by else "") + \
                "; an approver may sign off again"
        return f"{head}: needs {' and '.join(missing)}"


def start_hold(session: Session, *, actor: str, model: GovernedModel, cause: str) -> GovernanceHold:
    """Open a hold in the caller's transaction (the caller records the event and commits). Every
    review recorded so far, of any revision, stops counting towards the next sign-off."""
    last = session.execute(select(func.max(SafetyReview.id))
                           .where(SafetyReview.model_id == model.id)).scalar()
    hold = GovernanceHold(model_id=model.id, cause=cause, started_at=utcnow(), started_by=actor,
                          last_review_id=last or 0)
    session.add(hold)
    session.flush()
    return hold


def open_hold(session: Session, model: GovernedModel) -> GovernanceHold | None:
    """The model's newest hold unless a sign-off has ended it (a newer hold supersedes older ones)."""
    newest = session.execute(select(GovernanceHold).where(GovernanceHold.model_id == model.id)
                             .order_by(GovernanceHold.id.desc()).limit(1)).scalar()
    return newest if newest is not None and newest.ended_by_sign_off_id is None else None


def hold_status(session: Session, model: GovernedModel, tiers: Sequence[str]) -> HoldStatus | None:
    hold = open_hold(session, model)
    if hold is None:
        return None
    preset = get_preset(model.preset)
    fresh = tuple(str(r.tier) for r in current_reviews(session, model, recorded_after=hold.last_review_id)
                  if r.recommendation == OPEN and r.tier in tiers)
    return HoldStatus(hold.id, hold.cause, hold.started_at, tuple(tiers), preset.review_quorum, fresh,
                      preset.hold_needs_release, hold.released_by, hold.released_at, hold.release_rationale)


def check_hold(session: Session, *, actor: str, model: GovernedModel, tier: str,
               tiers: Sequence[str]) -> GovernanceHold | None:
    """The open hold, once it lets `actor` sign the model off to `tier`; None when there is none.

    Raises Conflict (still held) and Forbidden (the releasing board member cannot also approve)."""
    status = hold_status(session, model, tiers)
    if status is None:
        return None
    if status.released_by is not None and status.released_by == actor:
        raise Forbidden("separation of duties: you released the hold, so you cannot sign the model off",
                        code=SEPARATION_OF_DUTIES)
    if status.waiting_for(tier):
        raise Conflict(status.summary(tier), code="held")
    return session.get(GovernanceHold, status.id)


def end_hold(hold: GovernanceHold, signed: SignOff) -> None:
    """The sign-off that met the hold ends it (in the caller's transaction, after a flush)."""
    hold.ended_by_sign_off_id = signed.id


def release_hold(session: Session, *, actor: str, model: GovernedModel, rationale: str) -> GovernanceHold:
    """A board member releases the model's hold; a fresh quorum is still needed to sign it off.

    Raises InvalidInput (no rationale), Conflict (not held, no release needed, already released)."""
    if not rationale.strip():
        raise InvalidInput("a rationale is required", code="missing_rationale")
    hold = open_hold(session, model)
    if hold is None:
        raise Conflict(f"{model.name} is not held", code="not_held")
    if not get_preset(model.preset).hold_needs_release:
        raise Conflict(f"the preset of {model.name} needs no release of a hold", code="release_not_needed")
    if hold.released_by is not None:
        raise Conflict(f"the hold was already released by {hold.released_by}", code="already_released")
    before = hold_facts(hold)
    hold.released_at, hold.released_by, hold.release_rationale = utcnow(), actor, rationale.strip()
    commit_change(session, actor=actor, action="model.release_hold", target=model_target(model.name),
                  before=before, after=hold_facts(hold))
    return hold


def hold_facts(hold: GovernanceHold) -> dict[str, object]:
    return {"hold": hold.id, "cause": hold.cause, "reviews_after": hold.last_review_id,
            "released_by": hold.released_by, "release_rationale": hold.release_rationale}
