"""The policy page's one form over the whole document: the draft travels in the form, no draft is
stored. Lists are text areas (one name a line), the allow grants on model groups are a
tier × group × capability matrix of checkboxes, other grants (denies, single models, "*") one a line,
rate limits two numbers per tier. The draft is validated whole by `parse_document`; its message is
shown next to the field it is about (`field_of`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional

from govern.decisions.impact import DEFAULT_DAYS, MAX_DAYS
from govern.errors import PolicyRejected
from govern.policy.budgets import Budget
from govern.policy.document import Grant, PolicyDocument, parse_document

LIST_FIELDS = ("tiers", "capabilities", "blocked_models")
# The rate-limit inputs of each tier: a key's or identity's own windows, then its organisation's.
RATE_FIELDS = ("per_minute", "per_day", "organisation_per_minute", "organisation_per_day")
# The message of a refused draft starts with the section it is about (see govern.policy.document).
MESSAGE_FIELDS = (("tiers", "tiers"), ("capabilities", "capabilities"), ("model", "model_groups"),
                  ("grant", "grants"), ("blocked_models", "blocked_models"),
                  ("unknown model", "blocked_models"), ("rate_limits", "rate_limits"))


class PolicyDraftForm(FlaskForm):  # type: ignore[misc]
    """CSRF, the comment and the preview's window; the document's fields are read by `draft_from`."""

    comment = StringField("Why (recorded with the version)", validators=[Optional(), Length(max=500)])
    days = IntegerField("Replay the decisions of the last (days)", default=DEFAULT_DAYS,
                        validators=[Optional(), NumberRange(1, MAX_DAYS)])


def draft_digest(document: PolicyDocument) -> str:
    """A fingerprint of a draft: Apply stores only the draft whose preview was shown."""
    return hashlib.sha256(json.dumps(document.as_dict(), sort_keys=True).encode()).hexdigest()


def matrix_key(tier: str, group: str, capability: str) -> str:
    """The name of one checkbox of the grants matrix."""
    return f"grant|{tier}|{group}|{capability}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def form_values(document: PolicyDocument) -> dict[str, Any]:
    """The form's fields for a document (what the page shows before any edit)."""
    groups, capabilities = set(document.model_groups), set(document.capabilities)

    def in_matrix(grant: Grant) -> bool:
        # A grant of every capability ("*") has no column of its own: it stays one a line.
        return grant.effect == "allow" and grant.target in groups and grant.capability in capabilities

    matrix = {matrix_key(g.tier, g.target, g.capability) for g in document.grants if in_matrix(g)}
    others = [f"{g.effect} {g.tier} {g.target} {g.capability}" for g in document.grants
              if not in_matrix(g)]
    return {
        "tiers": "\n".join(document.tiers),
        "capabilities": "\n".join(document.capabilities),
        "blocked_models": "\n".join(document.blocked_models),
        "model_groups": "\n".join(f"{group}: {', '.join(models)}"
                                  for group, models in document.model_groups.items()),
        "other_grants": "\n".join(others),
        "matrix": matrix,
        "rate_limits": {tier: {window: "" if getattr(limit, window) is None else str(getattr(limit, window))
                               for window in RATE_FIELDS}
                        for tier, limit in document.rate_limits.items()},
    }


def values_from(form: Mapping[str, str], matrix: set[str]) -> dict[str, Any]:
    """The form's fields as submitted (to show them again, errors and all)."""
    limits: dict[str, dict[str, str]] = {}
    for name, value in form.items():
        if name.startswith("rate|"):
            _, tier, window = name.split("|", 2)
            limits.setdefault(tier, {})[window] = value.strip()
    return {**{name: form.get(name, "") for name in (*LIST_FIELDS, "model_groups", "other_grants")},
            "matrix": matrix, "rate_limits": limits}


def draft_from(form: Mapping[str, str], matrix: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The draft as plain data, and the messages of fields that cannot even be read (field -> message).
    `matrix`: the names of the checked grant boxes."""
    errors: dict[str, str] = {}
    raw: dict[str, Any] = {name: _lines(form.get(name, "")) for name in LIST_FIELDS}
    groups: dict[str, list[str]] = {}
    for line in _lines(form.get("model_groups", "")):
        group, colon, models = line.partition(":")
        if not colon:
            errors["model_groups"] = f"write each group as 'group: model, model' ({line!r})"
            continue
        groups[group.strip()] = [m.strip() for m in models.split(",") if m.strip()]
    raw["model_groups"] = groups
    grants: list[dict[str, str]] = []
    for key in sorted(matrix):
        parts = key.split("|")
        # A box of a tier, group or capability the draft no longer has goes with it.
        if (len(parts) == 4 and parts[1] in raw["tiers"] and parts[2] in groups
                and parts[3] in raw["capabilities"]):
            grants.append({"tier": parts[1], "target": parts[2], "capability": parts[3]})
    for line in _lines(form.get("other_grants", "")):
        words = line.split()
        if len(words) != 4 or words[0] not in ("allow", "deny"):
            errors["grants"] = f"write each other grant as 'allow|deny tier target capability' ({line!r})"
            continue
        grant = {"tier": words[1], "target": words[2], "capability": words[3]}
        grants.append(grant if words[0] == "allow" else {**grant, "effect": "deny"})
    raw["grants"] = grants
    limits: dict[str, dict[str, Any]] = {}
    for tier, windows in values_from(form, matrix)["rate_limits"].items():
        for window, value in windows.items():
            if not value:
                continue
            if not value.isdigit():
                errors["rate_limits"] = f"rate limit {window} of {tier} must be a whole number ({value!r})"
                continue
            if window not in RATE_FIELDS:
                continue  # no such input on the form
            scope, _, period = window.rpartition("_per_")  # organisation_per_day -> organisation, day
            target = limits.setdefault(tier, {})
            if scope:
                target = target.setdefault(scope, {})
            target[f"per_{period}" if scope else window] = int(value)
    if limits:
        raw["rate_limits"] = {tier: w for tier, w in limits.items() if tier in raw["tiers"]}
    return raw, errors


def field_of(error: PolicyRejected) -> str:
    """The form field a refused draft's message is about ("document" when none in particular)."""
    for start, name in MESSAGE_FIELDS:
        if error.message.startswith(start):
            return name
    return "document"


def keep_unshown(raw: dict[str, Any], live: PolicyDocument) -> None:
    """Put into the draft what the form does not show, as the live policy has it: budgets
    (of tiers and of organisations) and limits per model group, so editing the rest never drops
    them. What names a tier or model group the draft no longer has goes with it (the preview's
    diff shows it)."""
    tiers, groups = set(raw.get("tiers") or ()), set(raw.get("model_groups") or ())

    def kept(budgets: Mapping[str, tuple[Budget, ...]], by_tier: bool) -> dict[str, list[dict[str, Any]]]:
        out = {holder: [b.as_dict() for b in items if b.model_group is None or b.model_group in groups]
               for holder, items in budgets.items() if holder in tiers or not by_tier}
        return {holder: items for holder, items in out.items() if items}

    if budgets := kept(live.budgets, by_tier=True):
        raw["budgets"] = budgets
    if budgets := kept(live.organisation_budgets, by_tier=False):
        raw["organisation_budgets"] = budgets
    for tier, limit in live.rate_limits.items():
        of_groups = {group: of_group.as_dict() for group, of_group in limit.model_groups if group in groups}
        if tier in tiers and of_groups:
            raw.setdefault("rate_limits", {}).setdefault(tier, {})["model_groups"] = of_groups


def parsed_draft(form: Mapping[str, str], matrix: set[str], live: PolicyDocument
                 ) -> tuple[PolicyDocument | None, dict[str, str]]:
    """The draft validated whole (with what the form does not show kept from `live`), or None and
    the messages per field."""
    raw, errors = draft_from(form, matrix)
    keep_unshown(raw, live)
    if errors:
        return None, errors
    try:
        return parse_document(raw), {}
    except PolicyRejected as error:
        return None, {field_of(error): error.message}
