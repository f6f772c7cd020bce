"""May a release of a model go out to a tier now? The deployment protection check for CI/CD.

The answer agrees with what /v1/check decides for the same model and tier (see access.py and the
policy snapshot): the top tier reaches a governed model without a sign-off; every other tier needs
a sign-off in force that covers it, on a deployable scorecard, and no suspension, hold, retirement
or newer version. It is stricter in two ways: what would refuse a new sign-off now (open red-team
findings of high severity, a launch checklist no longer complete against the live system) and an
overdue re-review refuse the release too, though the sign-off in force may keep callers open.
Each rule is one function in CHECKS giving the reasons it finds; a new rule is one more function and
one more line there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.governance.checklists import CHECKLIST_INCOMPLETE, checklist_state
from govern.governance.holds import hold_status
from govern.governance.live_checks import LiveFacts
from govern.governance.re_reviews import OVERDUE, re_review_status
from govern.governance.red_team import OPEN_FINDINGS, blocked_reason, blocking_findings
from govern.governance.registry import find_model
from govern.governance.scorecards import model_gate
from govern.governance.signoffs import current_sign_off, in_force
from govern.models import GovernedModel, SignOff
from govern.policy.store import current_document


@dataclass(frozen=True)
class Reason:
    """Why a release may not go out: a stable `code` for scripts and a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Release:
    """What the checks look at: the version asked about, the newest version of its name, the tier,
    the tiers in order and the version's newest sign-off (in force or not)."""

    session: Session
    model: GovernedModel
    newest: GovernedModel
    tier: str
    tiers: tuple[str, ...]
    now: datetime
    sign_off: SignOff | None
    facts: LiveFacts | None  # what the running service reports, for the checklist's live checks

    @property
    def top_tier(self) -> bool:
        """The top tier reaches a governed model without a sign-off."""
        return bool(self.tiers) and self.tier == self.tiers[-1]

    @property
    def covered(self) -> bool:
        """The newest sign-off opens the tier (it opens its own tier and every tier above)."""
        signed = self.sign_off
        return (signed is not None and self.tier in self.tiers and signed.tier in self.tiers
                and self.tiers.index(signed.tier) <= self.tiers.index(self.tier))


@dataclass(frozen=True)
class Deployability:
    deployable: bool
    model: str
    version: str
    tier: str
    reasons: tuple[Reason, ...]
    sign_off: SignOff | None  # the sign-off in force that opens the tier, if any
    checked_at: datetime = field(compare=False)


Check = Callable[[Release], Iterator[Reason]]


def _unknown_tier(release: Release) -> Iterator[Reason]:
    if release.tier not in release.tiers:
        yield Reason("unknown_tier", f"{release.tier!r} is not a tier; tiers are {', '.join(release.tiers)}")


def _retired(release: Release) -> Iterator[Reason]:
    if release.model.retired_at is not None:
        yield Reason("retired", f"{release.model.name} {release.model.version} is retired: closed to every "
                                f"tier ({release.model.retirement_reason})")


def _superseded(release: Release) -> Iterator[Reason]:
    if release.newest.id != release.model.id:
        yield Reason("superseded", f"{release.model.name} {release.model.version} has been followed by "
                                   f"version {release.newest.version}")


def _suspended(release: Release) -> Iterator[Reason]:
    if release.model.suspended:
        yield Reason("suspended", f"{release.model.name} is suspended: every tier is denied "
                                  f"({release.model.suspension_reason})")


def _held(release: Release) -> Iterator[Reason]:
    if release.top_tier:
        return
    held = hold_status(release.session, release.model, release.tiers)
    if held is not None:
        yield Reason("held", held.summary(release.tier if release.tier in release.tiers else None))


def _signed_off(release: Release) -> Iterator[Reason]:
    signed, model = release.sign_off, release.model
    if release.top_tier or release.tier not in release.tiers:
        return
    if signed is None:
        yield Reason("not_signed_off", f"{model.name} {model.version} has no sign-off")
    elif signed.reversed_at is not None:
        yield Reason("reversed", f"sign-off #{signed.id} was reversed by {signed.reversed_by}")
    elif not in_force(signed, release.now):
        expired = signed.expires_at.strftime("%Y-%m-%d %H:%M") if signed.expires_at else "?"
        yield Reason("expired", f"sign-off #{signed.id} expired on {expired} UTC")
    elif not release.covered:
        yield Reason("tier_not_covered", f"sign-off #{signed.id} opens {signed.tier} and above, "
                                         f"not {release.tier}")


def _gate(release: Release) -> Iterator[Reason]:
    if release.top_tier or release.tier not in release.tiers:
        return
    gate = model_gate(release.session, release.model)
    if not gate.deployable:
        yield Reason("gate", "the scorecard is not deployable: " + "; ".join(gate.reasons))


def _checklist(release: Release) -> Iterator[Reason]:
    # Its live checks run now: a rate limit removed since the sign-off holds the next release back.
    if release.top_tier or release.tier not in release.tiers:
        return
    state = checklist_state(release.session, release.model, tier=release.tier, facts=release.facts)
    if state.missing:
        yield Reason(CHECKLIST_INCOMPLETE, "the launch checklist is not complete: " + "; ".join(
            f"{entry.spec.title} ({entry.missing_reason})" for entry in state.missing))


def _re_review(release: Release) -> Iterator[Reason]:
    if release.top_tier:
        return
    status = re_review_status(release.session, release.model, release.now)
    if status is not None and status.state == OVERDUE:
        yield Reason("re_review_overdue", f"the scheduled re-review was due on "
                                          f"{status.due_at.strftime('%Y-%m-%d')} and has not been made")


def _red_team(release: Release) -> Iterator[Reason]:
    # Stricter than /v1/check, which keeps a model open under a sign-off made before the finding:
    # a pipeline should not ship a release that a new sign-off could not open.
    if release.top_tier:
        return
    blockers = blocking_findings(release.session, release.model)
    if blockers:
        yield Reason(OPEN_FINDINGS, blocked_reason(blockers))


# In the order a person would fix them. A new rule: a function above and its name here.
CHECKS: tuple[Check, ...] = (
    _unknown_tier,
    _retired,
    _superseded,
    _suspended,
    _gate,
    _red_team,
    _checklist,
    _held,
    _signed_off,
    _re_review,
)


def deployable(session: Session, *, name: str, tier: str, now: datetime,
               version: str | None = None, facts: LiveFacts | None = None) -> Deployability:
    """Whether a release of `name` (its newest version, or `version`) may go out to `tier` at `now`,
    with every reason it may not. An unknown tier or version is a reason, not an error, so a CI
    script reads one answer. Raises NotFound (model_not_found) for a name not under governance."""
    newest = find_model(session, name)
    model = newest
    if version is not None and version != newest.version:
        found = session.execute(select(GovernedModel).where(GovernedModel.name == name,
                                                            GovernedModel.version == version)).scalar()
        if found is None:
            return Deployability(False, name, version, tier,
                                 (Reason("unknown_version", f"{name} has no version {version!r}"),),
                                 None, now)
        model = found
    release = Release(session, model, newest, tier, current_document(session).tiers, now,
                      current_sign_off(session, model), facts)
    reasons = tuple(reason for check in CHECKS for reason in check(release))
    opening = release.sign_off if not reasons and release.covered else None
    return Deployability(not reasons, name, model.version, tier, reasons, opening, now)
