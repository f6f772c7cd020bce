"""Demo governance records: the demo models rated, reviewed and signed off so that each opens to the
tier the default policy grants it to, and `research-preview` stays internal-only (not deployable)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.governance.presets import get_preset
from govern.governance.registry import find_model, register_model
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import sign_off
from govern.models.safety_review import OPEN

# model -> (group, post-mitigation level of every category, tier to open to or None)
DEMO_GOVERNANCE = {
    "open-7b": ("open", "low", "free"),
    "chat-standard": ("standard", "medium", "verified"),
    "frontier-1": ("frontier", "medium", "trusted"),
    "research-preview": ("research", "high", None),
}
RATER, REVIEWERS, APPROVER = "demo:safety-rater", ("demo:reviewer-1", "demo:reviewer-2"), "demo:approver"


def load_demo_governance(session: Session, *, actor: str) -> list[str]:
    """Register the demo models not yet under governance and take each through rating, review and
    sign-off; returns the names registered now. The demo models must already be in the policy."""
    registered = []
    preset = get_preset("preparedness-2023")
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
            sign_off(session, actor=APPROVER, model=model, tier=tier, conditions="demo data")
        registered.append(name)
    return registered
