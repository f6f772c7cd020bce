"""The policy diff: what a draft changes, section by section, with expected values written out."""

from __future__ import annotations

from typing import Any

from govern.policy.diff import diff_lines, diff_policies
from govern.policy.document import Grant, RateLimit, parse_document


def _doc(**override: Any) -> Any:
    raw: dict[str, Any] = {
        "tiers": ["free", "verified", "trusted"],
        "capabilities": ["generate", "tools"],
        "model_groups": {"small": ["m-1", "m-2"], "large": ["l-1"]},
        "grants": [{"tier": "free", "target": "small", "capability": "generate"},
                   {"tier": "trusted", "target": "large", "capability": "tools"}],
        "blocked_models": [],
        "rate_limits": {"free": {"per_minute": 10}},
    }
    raw.update(override)
    return parse_document(raw)


def test_identical_policies_have_an_empty_diff() -> None:
    diff = diff_policies(_doc(), _doc(), "conf", "conf")
    assert diff.empty
    assert diff_lines(diff) == ["no change"]


def test_tiers_added_removed_and_reordered() -> None:
    diff = diff_policies(_doc(), _doc(tiers=["verified", "free", "internal"],
                                      grants=[{"tier": "free", "target": "small", "capability": "generate"}]))
    assert diff.tiers.added == ("internal",)
    assert diff.tiers.removed == ("trusted",)
    assert diff.tiers.reordered is True
    assert "~ tiers reordered: free < verified < trusted -> verified < free < internal" in diff_lines(diff)


def test_adding_a_tier_at_the_top_is_not_a_reorder() -> None:
    diff = diff_policies(_doc(), _doc(tiers=["free", "verified", "trusted", "internal"]))
    assert diff.tiers.added == ("internal",)
    assert diff.tiers.reordered is False


def test_model_groups_added_removed_and_models_moved() -> None:
    diff = diff_policies(_doc(), _doc(model_groups={"small": ["m-1", "m-3"], "huge": ["h-1"]},
                                      grants=[{"tier": "free", "target": "small", "capability": "generate"}]))
    assert diff.groups_added == {"huge": ("h-1",)}
    assert diff.groups_removed == {"large": ("l-1",)}
    assert [(c.group, c.added, c.removed) for c in diff.groups_changed] == [("small", ("m-3",), ("m-2",))]


def test_grants_added_and_removed() -> None:
    diff = diff_policies(_doc(), _doc(grants=[
        {"tier": "free", "target": "small", "capability": "generate"},
        {"tier": "verified", "target": "small", "capability": "tools"},
        {"tier": "free", "target": "l-1", "capability": "generate", "effect": "deny"}]))
    assert diff.grants_added == (Grant("verified", "small", "tools"),
                                 Grant("free", "l-1", "generate", "deny"))
    assert diff.grants_removed == (Grant("trusted", "large", "tools"),)
    assert diff_lines(diff) == ["+ grant allow verified tools on small", "+ grant deny free generate on l-1",
                                "- grant allow trusted tools on large"]


def test_capabilities_blocked_models_and_rate_limits() -> None:
    diff = diff_policies(_doc(), _doc(capabilities=["generate", "tools", "fine_tune"], blocked_models=["m-2"],
                                      rate_limits={"free": {"per_minute": 5, "per_day": 100},
                                                   "trusted": {"per_day": 1000}}))
    assert diff.capabilities.added == ("fine_tune",)
    assert diff.blocked_models.added == ("m-2",)
    assert [(c.tier, c.old, c.new) for c in diff.rate_limits] == [
        ("free", RateLimit(10, None), RateLimit(5, 100)), ("trusted", RateLimit(), RateLimit(None, 1000))]
    assert diff_lines(diff) == [
        "+ capability fine_tune", "+ blocked model m-2",
        "~ rate limits of free: 10/min, no per-day limit -> 5/min, 100/day",
        "~ rate limits of trusted: no per-minute limit, no per-day limit -> no per-minute limit, 1000/day"]


def test_casbin_model_text_change_is_reported() -> None:
    diff = diff_policies(_doc(), _doc(), "conf a", "conf b")
    assert not diff.empty
    assert diff.as_dict()["model_conf_changed"] is True
    assert diff_lines(diff) == ["~ the Casbin model text changed"]


def test_diff_as_dict_is_plain_data() -> None:
    diff = diff_policies(_doc(), _doc(grants=[{"tier": "free", "target": "small", "capability": "generate"}]))
    assert diff.as_dict()["grants"] == {
        "added": [],
        "removed": [{"tier": "trusted", "target": "large", "capability": "tools", "effect": "allow"}]}


def test_a_budget_raised_or_added_is_a_change_an_approver_sees() -> None:
    before = _doc(budgets={"free": [{"period": "day", "tokens": 1000}]})
    after = _doc(budgets={"free": [{"period": "day", "tokens": 50000}],
                          "trusted": [{"period": "month", "cost": "25.50", "model_group": "large"}]})

    diff = diff_policies(before, after)

    assert not diff.empty
    assert diff_lines(diff) == [
        "~ budgets of free: 1000 tokens per day -> 50000 tokens per day",
        "~ budgets of trusted: no budget -> 25.5 in cost per month on large"]
    assert diff.as_dict()["budgets"][1] == {
        "tier": "trusted", "old": [], "new": [{"period": "month", "cost": "25.5", "model_group": "large"}]}


def test_budgets_listed_in_another_order_are_no_change() -> None:
    day, month = {"period": "day", "tokens": 1000}, {"period": "month", "cost": "3"}
    diff = diff_policies(_doc(budgets={"free": [day, month]}), _doc(budgets={"free": [month, day]}))
    assert diff.empty


def test_organisation_budgets_and_model_group_limits_are_changes_an_approver_sees() -> None:
    before = _doc(rate_limits={"free": {"per_minute": 10}})
    after = _doc(rate_limits={"free": {"per_minute": 10, "model_groups": {"large": {"per_minute": 2}}}},
                 organisation_budgets={"acme": [{"period": "day", "tokens": 5000}]})

    diff = diff_policies(before, after)

    assert diff_lines(diff) == [
        "~ rate limits of free: 10/min, no per-day limit -> 10/min, no per-day limit, "
        "on large: 2/min, no per-day limit",
        "~ budgets of organisation acme: no budget -> 5000 tokens per day"]
    assert diff.as_dict()["organisation_budgets"] == [
        {"organisation": "acme", "old": [], "new": [{"period": "day", "tokens": 5000}]}]


def test_a_change_to_any_section_is_never_no_change() -> None:
    # Guard: a section added to the document and forgotten by the diff would let a draft that
    # changes it pass for "no change" in front of the approver.
    base = _doc()
    changed = {
        "tiers": [*base.tiers, "extra"],
        "capabilities": [*base.capabilities, "extra"],
        "model_groups": {**{g: list(m) for g, m in base.model_groups.items()}, "extra": []},
        "grants": [],
        "blocked_models": [next(iter(base.models))],
        "rate_limits": {"free": {"per_day": 1}},
        "budgets": {"free": [{"period": "day", "tokens": 1}]},
        "organisation_budgets": {"acme": [{"period": "day", "tokens": 1}]},
    }
    assert set(changed) == set(base.as_dict()) | {"rate_limits", "budgets", "organisation_budgets"}
    for section, value in changed.items():
        assert not diff_policies(base, parse_document({**base.as_dict(), section: value})).empty, section
