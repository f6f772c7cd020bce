"""Demo governance records: the demo models rated, reviewed, their launch checklist completed and
signed off so that each opens to the tier the default policy grants it to, and `research-preview`
stays internal-only (not deployable). The sign-offs go through every rule, live checks included:
the demo sets a rate limit for every tier, and its caller reports the live facts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.governance.checklists import ItemUpdate, update_items
from govern.governance.live_checks import LiveFacts
from govern.governance.presets import get_preset, preset_checklist
from govern.governance.registry import find_model, register_model
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import sign_off
from govern.identity.people import active_account
from govern.identity.users import create_user, new_password
from govern.models import GovernedModel
from govern.models.safety_review import OPEN
from govern.policy.store import change_policy, current_document

# model -> (group, post-mitigation level of every category, tier to open to or None)
DEMO_GOVERNANCE = {
    "open-7b": ("open", "low", "free"),
    "chat-standard": ("standard", "medium", "verified"),
    "frontier-1": ("frontier", "medium", "trusted"),
    "research-preview": ("research", "high", None),
}
RATER, REVIEWERS, APPROVER = "demo:safety-rater", ("demo:reviewer-1", "demo:reviewer-2"), "demo:approver"
LAUNCH_TEAM, OWNER = "demo:launch-team", "demo-launch-owner"
# A tier without a limit fails the checklist's rate_limits check. Far above what one tries by hand or
# a load test sends: the demo shows the limit counted, not refusing (set your own in the policy).
DEMO_RATE_LIMIT = {"per_minute": 100_000}


def _rate_limits(session: Session, *, actor: str) -> None:
    document = current_document(session)
    missing = [tier for tier in document.tiers if tier not in document.rate_limits]
    if not missing:
        return

    def edit(raw: dict[str, object]) -> None:
        limits = raw.setdefault("rate_limits", {})
        assert isinstance(limits, dict)
        for tier in missing:
            limits[tier] = dict(DEMO_RATE_LIMIT)

    change_policy(session, edit, actor=actor, comment="demo: a rate limit for every tier (launch checklist)")


def _complete_checklist(session: Session, model: GovernedModel) -> None:
    """Every item done, owned by the demo's launch owner (an account without any role)."""
    if active_account(session, OWNER) is None:
        create_user(session, actor=LAUNCH_TEAM, username=OWNER, password=new_password(), roles=frozenset())
    items = preset_checklist(get_preset(model.preset)).items
    update_items(session, actor=LAUNCH_TEAM, model=model, updates=[
        ItemUpdate(item.id, "done", OWNER, f"demo: {item.title.lower()}") for item in items])


def load_demo_governance(session: Session, *, actor: str, facts: LiveFacts | None) -> list[str]:
    """Register the demo models not yet under governance and take each through rating, review, the
    launch checklist and sign-off (checked against `facts`, see live_checks); returns the names
    registered now. The demo models must already be in the policy."""
    registered = []
    preset = get_preset("preparedness-2023")
    _rate_limits(session, actor=actor)
    for name, (group, post, tier) in DEMO_GOVERNANCE.items():
        try:
            find_model(session, name)
            continue
        except NotFound:
            pass
        model = register_model(session, actor=actor, name=name, version="1.0", owner="demo team",
                               model_group=group, description="demo model")
        for category in preset.categories:
            pre = "high" if post != "low" else "low"
            rate_category(session, actor=RATER, model=model, category=category.id, pre_level=pre,
                          post_level=post, evidence="demo evaluation suite")
        if tier is not None:
            for reviewer in REVIEWERS:
                record_review(session, actor=reviewer, model=model, recommendation=OPEN, tier=tier,
                              rationale="demo: mitigations verified")
            _complete_checklist(session, model)
            sign_off(session, actor=APPROVER, model=model, tier=tier, conditions="demo data", facts=facts)
        registered.append(name)
    return registered
