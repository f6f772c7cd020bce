"""Sign-offs by leadership approvers (open a model to a tier), and the board's reversal of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, Forbidden, InvalidInput, NotFound
from govern.governance.changes import commit_change, model_target
from govern.governance.checklists import check_checklist, checklist_state, checklist_summary
from govern.governance.holds import check_hold, end_hold, hold_facts, open_hold, start_hold
from govern.governance.live_checks import LiveFacts
from govern.governance.red_team import check_red_team
from govern.governance.registry import check_current, newest_version
from govern.governance.reviews import SEPARATION_OF_DUTIES, current_reviews, quorum
from govern.governance.schedule import closed_by_overdue
from govern.governance.scorecards import current_raters, model_gate
from govern.identity.people import is_among
from govern.models import GovernanceHold, GovernedModel, SignOff
from govern.models.base import utcnow
from govern.models.governance_hold import REVERSAL
from govern.policy.store import current_document


def check_sign_off(session: Session, *, actor: str, model: GovernedModel, tier: str,
                   expires_at: datetime | None = None, now: datetime | None = None,
                   facts: LiveFacts | None = None) -> GovernanceHold | None:
    """Whether `actor` may open the model to `tier` now (see sign_off); returns the open hold the
    sign-off would end, if any. Raises as sign_off does."""
    now = now or utcnow()
    check_current(session, model)
    tiers = current_document(session).tiers
    if tier not in tiers:
        raise InvalidInput(f"unknown tier {tier!r}", code="unknown_tier")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("the expiry must be in the future", code="expiry_in_past")
    if is_among(session, actor, current_raters(session, model)):
        raise Forbidden("separation of duties: you rated this model, so you cannot approve it",
                        code=SEPARATION_OF_DUTIES)
    if is_among(session, actor, (review.reviewer for review in current_reviews(session, model))):
        raise Forbidden("separation of duties: you reviewed this model, so you cannot approve it",
                        code=SEPARATION_OF_DUTIES)
    gate = model_gate(session, model)
    if not gate.deployable:
        raise Conflict("the model is not deployable: " + "; ".join(gate.reasons), code="not_deployable")
    # Red-team findings (see red_team.py): open ones of high severity or above block.
    check_red_team(session, model)
    support = quorum(session, model, tiers)
    if support.widest_tier is None or tiers.index(support.widest_tier) > tiers.index(tier):
        raise Conflict(
            f"the Safety Advisory Group has not recommended opening to {tier}: {support.needed} distinct "
            f"reviewers must recommend {tier} or a lower tier"
            + (f" (a quorum supports {support.widest_tier} and above)" if support.widest_tier else ""),
            code="quorum_not_met")
    hold = check_hold(session, actor=actor, model=model, tier=tier, tiers=tiers)
    # The launch checklist: every item done or not applicable, its live check passing now.
    check_checklist(session, actor=actor, model=model, tier=tier, facts=facts)
    return hold


def sign_off(session: Session, *, actor: str, model: GovernedModel, tier: str, conditions: str = "",
             expires_at: datetime | None = None, now: datetime | None = None,
             facts: LiveFacts | None = None) -> SignOff:
    """Open the model's version (the newest of its name, not retired) to `tier` and every tier above
    it. Needs a deployable gate and a quorum of reviewers recommending that tier or a wider one; the
    approver must not have rated or reviewed. The launch checklist must be complete, its live checks
    run now against the live system (`facts`: what the running service reports, see live_checks).
    After a reversal the model is held (see holds.py): the quorum counts only reviews recorded since,
    and the preset may ask for a board member's release; this sign-off then ends the hold.

    Raises Forbidden (separation of duties), Conflict (gate, quorum, checklist or hold), InvalidInput."""
    now = now or utcnow()
    hold = check_sign_off(session, actor=actor, model=model, tier=tier, expires_at=expires_at, now=now,
                          facts=facts)
    checklist = checklist_state(session, model, tier=tier, facts=facts)
    before = current_sign_off(session, model)
    signed = SignOff(model_id=model.id, approver=actor, tier=tier, conditions=conditions.strip(),
                     revision=model.revision, created_at=now, expires_at=expires_at)
    session.add(signed)
    session.flush()  # the id, so the event names the row it records
    if hold is not None:
        end_hold(hold, signed)
    commit_change(session, actor=actor, action="model.sign_off", target=model_target(model.name),
                  before=sign_off_facts(before) if before else None,
                  after={"id": signed.id, "version": model.version, "revision": signed.revision,
                         "tier": tier,
                         "conditions": signed.conditions,
                         "expires_at": expires_at.isoformat() if expires_at else None,
                         "checklist": checklist_summary(checklist),
                         **({"ended_hold": hold.id} if hold is not None else {})})
    return signed


def reverse_sign_off(session: Session, *, actor: str, model: GovernedModel, sign_off_id: int,
                     rationale: str) -> SignOff:
    """The board reverses the model's current sign-off: it is closed to all but the top tier again,
    and held until a fresh quorum (and, by default, a board member's release) let it be signed off."""
    signed = session.get(SignOff, sign_off_id)
    if signed is None or signed.model_id != model.id:
        raise NotFound(f"no sign-off {sign_off_id} of {model.name}", code="sign_off_not_found")
    if not rationale.strip():
        raise InvalidInput("a rationale is required", code="missing_rationale")
    if signed.reversed_at is not None:
        raise Conflict("this sign-off has already been reversed", code="already_reversed")
    current = current_sign_off(session, model)
    if current is None or current.id != signed.id:
        raise Conflict("only the model's current sign-off can be reversed", code="not_current")
    before = sign_off_facts(signed)
    signed.reversed_at, signed.reversed_by, signed.reversal_rationale = utcnow(), actor, rationale.strip()
    hold = start_hold(session, actor=actor, model=model, cause=REVERSAL)
    commit_change(session, actor=actor, action="model.reverse_sign_off", target=model_target(model.name),
                  before=before, after={**sign_off_facts(signed), **hold_facts(hold)})
    return signed


def sign_off_facts(signed: SignOff) -> dict[str, object]:
    return {"id": signed.id, "tier": signed.tier, "approver": signed.approver,
            "expires_at": signed.expires_at, "reversed_at": signed.reversed_at,
            "reversed_by": signed.reversed_by,
            "reversal_rationale": signed.reversal_rationale}


def all_sign_offs(session: Session, model: GovernedModel) -> list[SignOff]:
    return list(session.execute(select(SignOff).where(SignOff.model_id == model.id)
                                .order_by(SignOff.id.desc())).scalars())


def current_sign_off(session: Session, model: GovernedModel) -> SignOff | None:
    """The newest sign-off, whatever its state (a newer one supersedes the older)."""
    return session.execute(select(SignOff).where(SignOff.model_id == model.id)
                           .order_by(SignOff.id.desc()).limit(1)).scalar()


def in_force(signed: SignOff | None, now: datetime) -> bool:
    return (signed is not None and signed.reversed_at is None
            and (signed.expires_at is None or signed.expires_at > now))


def deployed_sign_off(session: Session, model: GovernedModel, now: datetime) -> SignOff | None:
    """The model's current sign-off while it is in force and no hold has closed it (a hold started
    after it, e.g. by lifting a suspension, keeps it closed until a new sign-off). A retired version,
    or one followed by a newer version, has none in force. An overdue re-review is not looked at."""
    if model.retired_at is not None or newest_version(session, model.name).id != model.id:
        return None
    signed = current_sign_off(session, model)
    return signed if in_force(signed, now) and open_hold(session, model) is None else None


def sign_off_in_force(session: Session, model: GovernedModel, now: datetime) -> SignOff | None:
    """The deployed sign-off (see deployed_sign_off), unless its preset closes models whose
    scheduled re-review is overdue and it is (see schedule.py)."""
    signed = deployed_sign_off(session, model, now)
    return None if signed is None or closed_by_overdue(session, model, signed, now) else signed
