"""Preparedness presets: tracked categories, level scale and thresholds, read from YAML files in
policies/preparedness/, and the launch checklists they name, from policies/checklists/
(configuration, not code)."""

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


# The live checks a checklist item may name (see govern.governance.live_checks).
LIVE_CHECKS = ("rate_limits", "decision_logging", "escalation", "feedback")
DEFAULT_CHECKLIST = "default"


@dataclass(frozen=True)
class ChecklistItemSpec:
    id: str
    title: str
    check: str | None = None  # a live check, run at sign-off time


@dataclass(frozen=True)
class Checklist:
    name: str
    title: str
    items: tuple[ChecklistItemSpec, ...]

    def item(self, item_id: str) -> ChecklistItemSpec:
        for item in self.items:
            if item.id == item_id:
                return item
        raise InvalidInput(f"{item_id!r} is not an item of the checklist {self.name}",
                           code="unknown_checklist_item")


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
    checklist: str = DEFAULT_CHECKLIST  # the launch checklist a sign-off needs complete
    # Days after a sign-off (or its last re-review) a deployed model is due for re-review; None: never.
    re_review_days: int | None = None
    # An overdue re-review closes access as an expired sign-off does.
    close_when_overdue: bool = False

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
                        _flag(name, raw, "hold_after_suspension", False),
                        str(raw.get("checklist", DEFAULT_CHECKLIST)),
                        int(raw["re_review_days"]) if raw.get("re_review_days") is not None else None,
                        _flag(name, raw, "close_when_overdue", False))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"preset {name}: missing or malformed {exc}") from None
    if preset.deploy_max not in levels or preset.develop_max not in levels:
        raise ConfigError(f"preset {name}: deploy_max and develop_max must be levels")
    if preset.rank(preset.deploy_max) > preset.rank(preset.develop_max):
        raise ConfigError(f"preset {name}: deploy_max must not be above develop_max")
    if preset.review_quorum < 1 or not categories:
        raise ConfigError(f"preset {name}: needs categories and a quorum of at least 1")
    if preset.re_review_days is not None and preset.re_review_days < 1:
        raise ConfigError(f"preset {name}: re_review_days must be at least 1")
    if preset.close_when_overdue and preset.re_review_days is None:
        raise ConfigError(f"preset {name}: close_when_overdue needs re_review_days")
    if preset.checklist not in checklists():
        raise ConfigError(f"preset {name}: no checklist {preset.checklist!r} in policies/checklists/")
    return preset


def _checklist(name: str, raw: object) -> Checklist:
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        raise ConfigError(f"checklist {name}: must be a mapping with a list of items")
    try:
        items = tuple(ChecklistItemSpec(str(item["id"]), str(item["title"]),
                                        str(item["check"]) if item.get("check") else None)
                      for item in raw["items"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"checklist {name}: every item needs an id and a title ({exc})") from None
    ids = [item.id for item in items]
    if not items or len(set(ids)) != len(ids):
        raise ConfigError(f"checklist {name}: needs items, each with its own id")
    wrong = sorted({item.check for item in items if item.check and item.check not in LIVE_CHECKS})
    if wrong:
        raise ConfigError(f"checklist {name}: unknown check {', '.join(wrong)}; the checks are "
                          f"{', '.join(LIVE_CHECKS)}")
    return Checklist(name, str(raw.get("title", "Launch checklist")), items)


@functools.cache
def checklists(folder: Path | None = None) -> dict[str, Checklist]:
    """Every launch checklist, by file name without `.yaml`."""
    folder = folder or resource_dir("policies") / "checklists"
    return {path.stem: _checklist(path.stem, load_yaml(path.read_text(), str(path)))
            for path in sorted(folder.glob("*.yaml"))}


def preset_checklist(preset: Preset) -> Checklist:
    return checklists()[preset.checklist]


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
