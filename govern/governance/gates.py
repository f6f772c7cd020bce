"""Gates from a scorecard, by the Preparedness rules: deployable only if every post-mitigation level
is at or below the preset's deploy threshold, development only if at or below the develop threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from govern.governance.presets import Preset

DEPLOYABLE = "deployable"
DEVELOPMENT_ONLY = "development_only"
STOP = "stop"
UNRATED = "unrated"  # some category has no rating yet


@dataclass(frozen=True)
class Levels:
    pre: str
    post: str


@dataclass(frozen=True)
class Gate:
    status: str
    overall_pre: str | None
    overall_post: str | None
    reasons: tuple[str, ...]  # why the model is not deployable, in words; empty when it is

    @property
    def deployable(self) -> bool:
        return self.status == DEPLOYABLE


def compute_gate(preset: Preset, scorecard: Mapping[str, Levels]) -> Gate:
    """The gate for the newest level of each category (`scorecard`: category id -> levels)."""
    reasons: list[str] = []
    missing = [c.name for c in preset.categories if c.id not in scorecard]
    if missing:
        reasons.append(f"not rated yet: {', '.join(missing)}")
    rated = [(c, scorecard[c.id]) for c in preset.categories if c.id in scorecard]
    worst_post = max((preset.rank(levels.post) for _, levels in rated), default=None)
    worst_pre = max((preset.rank(levels.pre) for _, levels in rated), default=None)
    over_develop = [c.name for c, levels in rated
                    if preset.rank(levels.post) > preset.rank(preset.develop_max)]
    over_deploy = [c.name for c, levels in rated
                   if preset.rank(levels.post) > preset.rank(preset.deploy_max)]
    if over_develop:
        reasons.append(f"{', '.join(over_develop)} above {preset.develop_max} after mitigation: "
                       f"development must stop until mitigations bring it to {preset.develop_max} or below")
    if over_deploy:
        reasons.append(f"{', '.join(over_deploy)} above {preset.deploy_max} after mitigation: "
                       f"deployment needs {preset.deploy_max} or below")
    if over_develop:
        status = STOP
    elif missing:
        status = UNRATED
    elif over_deploy:
        status = DEVELOPMENT_ONLY
    else:
        status = DEPLOYABLE
    return Gate(
        status,
        preset.levels[worst_pre] if worst_pre is not None else None,
        preset.levels[worst_post] if worst_post is not None else None,
        tuple(reasons),
    )
