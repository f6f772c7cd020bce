"""What a sign-off will open, before it is made: per tier, what the policy grants on the model and
what the tier will actually be able to do once the sign-off is in force (policy and sign-off
together), answered by the same policy snapshot the decision plane uses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from govern.errors import InvalidInput
from govern.models import GovernedModel
from govern.policy.store import current_snapshot
from govern.types import ModelAccess


@dataclass(frozen=True)
class TierPreview:
    tier: str
    opened: bool  # the sign-off lets this tier reach the model (the top tier always does)
    granted: tuple[str, ...]  # capabilities the policy grants the tier on this model
    usable: tuple[str, ...]  # what the tier will be able to do: policy and sign-off together

    @property
    def opened_for_nothing(self) -> bool:
        """Opened by the sign-off, yet the policy grants the tier nothing on this model."""
        return self.opened and not self.granted


@dataclass(frozen=True)
class SignOffPreview:
    model: str
    model_group: str
    tier: str
    suspended: bool  # a suspended model stays closed to everyone whatever the sign-off says
    tiers: tuple[TierPreview, ...]  # lowest tier first


def sign_off_preview(session: Session, model: GovernedModel, tier: str) -> SignOffPreview:
    """Raises InvalidInput for a tier the policy does not have."""
    policy_only = current_snapshot(session)
    tiers = policy_only.document.tiers
    if tier not in tiers:
        raise InvalidInput(f"unknown tier {tier!r}", code="unknown_tier")
    signed = current_snapshot(session, {model.name: ModelAccess(open_from=tier, suspended=model.suspended)})
    capabilities = policy_only.document.capabilities
    previews = []
    for rank, each in enumerate(tiers):
        granted = tuple(c for c in capabilities if policy_only.decide_tier(each, model.name, c).allow)
        usable = tuple(c for c in capabilities if signed.decide_tier(each, model.name, c).allow)
        previews.append(TierPreview(each, rank >= tiers.index(tier), granted, usable))
    return SignOffPreview(model.name, model.model_group, tier, model.suspended, tuple(previews))
