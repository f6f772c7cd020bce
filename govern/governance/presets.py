"""Preparedness presets: tracked categories, level scale and thresholds, read from YAML files in
policies/preparedness/ (configuration, not code)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from govern.errors import ConfigError, InvalidInput
from govern.resources import resource_dir
from govern.yaml_input import load_yaml

DEFAULT_PRESET = "preparedness-2023"


@dataclass(frozen=True)
class Category:
    id: str
    name: str


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    levels: tuple[str, ...]
    deploy_max: str
    develop_max: str
    review_quorum: int
    evidence_label: str
    categories: tuple[Category, ...]
    # After the board reverses a sign-off, a new one needs a board member's release of the hold
    # (besides a fresh quorum).
    hold_needs_release: bool = True
    # Lifting a suspension holds the model as a reversal does: the earlier sign-off stops counting.
    hold_after_suspension: bool = False

    def rank(self, level: str) -> int:
        return self.levels.index(level)

    def category(self, category_id: str) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise InvalidInput(f"{category_id!r} is not a category of {self.title}", code="unknown_category")


def _flag(name: str, raw: dict[str, object], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"preset {name}: {key} must be true or false, got {value!r}")
    return value


def _parse(name: str, raw: object) -> Preset:
    if not isinstance(raw, dict):
        raise ConfigError(f"preset {name}: must be a mapping")
    try:
        levels = tuple(str(level) for level in raw["levels"])
        categories = tuple(Category(str(c["id"]), str(c["name"])) for c in raw["categories"])
        preset = Preset(name, str(raw["title"]), levels, str(raw["deploy_max"]), str(raw["develop_max"]),
                        int(raw.get("review_quorum", 2)), str(raw.get("evidence_label", "Evidence")),
                        categories, _flag(name, raw, "hold_needs_release", True),
                        _flag(name, raw, "hold_after_suspension", False))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"preset {name}: missing or malformed {exc}") from None
    if preset.deploy_max not in levels or preset.develop_max not in levels:
        raise ConfigError(f"preset {name}: deploy_max and develop_max must be levels")
    if preset.rank(preset.deploy_max) > preset.rank(preset.develop_max):
        raise ConfigError(f"preset {name}: deploy_max must not be above develop_max")
    if preset.review_quorum < 1 or not categories:
        raise ConfigError(f"preset {name}: needs categories and a quorum of at least 1")
    return preset


@functools.cache
def presets(folder: Path | None = None) -> dict[str, Preset]:
    """Every preset, by file name without `.yaml`."""
    folder = folder or resource_dir("policies") / "preparedness"
    return {path.stem: _parse(path.stem, load_yaml(path.read_text(), str(path)))
            for path in sorted(folder.glob("*.yaml"))}


def get_preset(name: str) -> Preset:
    try:
        return presets()[name]
    except KeyError:
        raise InvalidInput(f"unknown preset {name!r}; known: {', '.join(presets())}",
                           code="unknown_preset") from None
