"""The live checks of a launch checklist, run against the live system at sign-off time.

`rate_limits` reads the policy in the database. What only the running service knows is reported
by the caller as LiveFacts (the web layer reads decision logging's health from its runtime, as
/readyz reports it, the feedback intake from the settings, and the escalation path from the
notification settings), so this module stays free of Flask and of the layers above it. No facts
reported: the checks that need them fail (fail closed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from govern.policy.store import current_document


@dataclass(frozen=True)
class LiveFacts:
    decision_logging: bool
    feedback_intake: bool
    escalation_recipients: tuple[str, ...] = ()  # who gets incident.opened by e-mail
    escalation_webhooks: tuple[int, ...] = ()  # enabled endpoints subscribed to incident.opened
    decision_logging_detail: str = ""  # why it is not healthy


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str  # what was found, for people


def opened_tiers(tiers: Sequence[str], tier: str) -> tuple[str, ...]:
    """The tiers a sign-off for `tier` opens: it and every tier above it."""
    return tuple(tiers[tiers.index(tier):]) if tier in tiers else tuple(tiers)


def run_check(session: Session, name: str, *, tier: str, facts: LiveFacts | None) -> CheckResult:
    """Run the live check `name` for a sign-off opening `tier` and above."""
    if name == "rate_limits":
        document = current_document(session)
        opened = opened_tiers(document.tiers, tier)
        unlimited = [t for t in opened if t not in document.rate_limits]
        if unlimited:
            return CheckResult(name, False, f"no rate limit for {', '.join(unlimited)} in the policy")
        return CheckResult(name, True, f"rate limits set for {', '.join(opened)}")
    if facts is None:
        return CheckResult(name, False, "the live system's state was not reported")
    if name == "decision_logging":
        return (CheckResult(name, True, "decision logging is healthy") if facts.decision_logging
                else CheckResult(name, False, "decision logging is not healthy"
                                 + (f": {facts.decision_logging_detail}" if facts.decision_logging_detail
                                    else "")))
    if name == "escalation":
        lacking = ([] if facts.escalation_recipients else ["nobody receives incident.opened by e-mail"]) + (
            [] if facts.escalation_webhooks else ["no enabled webhook takes incident.opened"])
        if lacking:
            return CheckResult(name, False, "; ".join(lacking))
        return CheckResult(name, True, f"{len(facts.escalation_recipients)} e-mail recipients and "
                                       f"{len(facts.escalation_webhooks)} webhooks take incident.opened")
    if name == "feedback":
        return (CheckResult(name, True, "the feedback intake is on") if facts.feedback_intake
                else CheckResult(name, False, "the feedback intake is off (GOVERN_FEEDBACK_INTAKE)"))
    return CheckResult(name, False, f"unknown check {name!r}")
