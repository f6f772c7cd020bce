"""Small edits to a policy held as plain data, for change_policy(). Each raises NotFound or
Conflict when the edit makes no sense; full validation happens when the result is parsed."""

from __future__ import annotations

from typing import Any

from govern.errors import Conflict, NotFound, echo, shorten
from govern.policy.document import Grant

Raw = dict[str, Any]


def add_tier(raw: Raw, name: str, below: str | None = None) -> None:
    """Insert a tier under `below`, or at the top when `below` is None."""
    tiers: list[str] = raw["tiers"]
    if name in tiers:
        raise Conflict(f"tier {name!r} already exists", code="tier_exists")
    if below is None:
        tiers.append(name)
    elif below not in tiers:
        raise NotFound(f"unknown tier {below!r}", code="unknown_tier")
    else:
        tiers.insert(tiers.index(below), name)


def remove_tier(raw: Raw, name: str) -> None:
    if name not in raw["tiers"]:
        raise NotFound(f"unknown tier {name!r}", code="unknown_tier")
    raw["tiers"].remove(name)


def add_capability(raw: Raw, name: str) -> None:
    if name in raw["capabilities"]:
        raise Conflict(f"capability {name!r} already exists", code="capability_exists")
    raw["capabilities"].append(name)


def remove_capability(raw: Raw, name: str) -> None:
    if name not in raw["capabilities"]:
        raise NotFound(f"unknown capability {name!r}", code="unknown_capability")
    raw["capabilities"].remove(name)


def set_model_group(raw: Raw, name: str, models: list[str]) -> None:
    raw.setdefault("model_groups", {})[name] = list(models)


def remove_model_group(raw: Raw, name: str) -> None:
    if name not in raw.get("model_groups", {}):
        raise NotFound(f"unknown model group {name!r}", code="unknown_model_group")
    del raw["model_groups"][name]


def add_grant(raw: Raw, grant: Grant) -> None:
    grants: list[dict[str, str]] = raw.setdefault("grants", [])
    if grant.as_dict() in grants:
        raise Conflict(f"grant {shorten(grant.id)} already exists", code="grant_exists")
    grants.append(grant.as_dict())


def remove_grant(raw: Raw, grant_id: str) -> None:
    grants: list[dict[str, str]] = raw.get("grants", [])
    for index, item in enumerate(grants):
        if Grant(item["tier"], item["target"], item["capability"],
                 item.get("effect", "allow")).id == grant_id:
            del grants[index]
            return
    raise NotFound(f"no grant {echo(grant_id)}", code="grant_not_found")


def block_model(raw: Raw, model: str) -> None:
    blocked: list[str] = raw.setdefault("blocked_models", [])
    if model not in blocked:
        blocked.append(model)


def unblock_model(raw: Raw, model: str) -> None:
    blocked: list[str] = raw.get("blocked_models", [])
    if model not in blocked:
        raise NotFound(f"model {model!r} is not blocked", code="not_blocked")
    blocked.remove(model)
