"""The rate_limits section of policy.yaml: validated against the tiers, exported and imported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from govern.errors import PolicyRejected
from govern.policy.document import RateLimit, parse_document

BASE = {"tiers": ["free", "verified"], "capabilities": ["generate"], "model_groups": {"open": ["m"]},
        "grants": [{"tier": "free", "target": "open", "capability": "generate"}]}


def test_limits_per_tier_are_read():
    document = parse_document({**BASE, "rate_limits": {"free": {"per_minute": 60, "per_day": 1000},
                                                       "verified": {"per_day": 50000}}})
    assert document.rate_limits == {"free": RateLimit(60, 1000), "verified": RateLimit(None, 50000)}


def test_an_organisation_limit_is_read_and_written_back():
    limits = {"free": {"per_minute": 60, "organisation": {"per_minute": 100, "per_day": 900}}}
    raw = {**BASE, "rate_limits": limits}
    document = parse_document(raw)
    assert document.rate_limits["free"] == RateLimit(60, None, 100, 900)
    assert document.as_dict()["rate_limits"] == raw["rate_limits"]
    assert parse_document(document.as_dict()) == document


def test_limits_are_written_back_only_when_set():
    assert "rate_limits" not in parse_document(BASE).as_dict()
    raw = {**BASE, "rate_limits": {"free": {"per_minute": 60}}}
    assert parse_document(raw).as_dict()["rate_limits"] == {"free": {"per_minute": 60}}


@pytest.mark.parametrize(("limits", "message"), [
    ({"gold": {"per_minute": 5}}, "unknown tier 'gold'"),
    ({"free": {"per_hour": 5}}, "unknown fields: per_hour"),
    ({"free": {"per_minute": 0}}, "at least 1"),
    ({"free": {"per_minute": "60"}}, "whole number"),
    ({"free": {"per_minute": True}}, "whole number"),
    ({"free": {}}, "must set per_minute, per_day and/or organisation"),
    ({"free": {"organisation": {}}}, "organisation must set per_minute and/or per_day"),
    ({"free": {"organisation": {"per_week": 3}}}, r"organisation has unknown fields: per_week"),
    ({"free": {"organisation": {"per_minute": -1}}}, r"free.organisation.per_minute must be a whole"),
    (["free"], "must map tiers"),
])
def test_faulty_limits_are_refused(limits, message):
    with pytest.raises(PolicyRejected, match=message):
        parse_document({**BASE, "rate_limits": limits})


def test_limits_survive_export_and_import(govern, tmp_path: Path):
    folder = tmp_path / "policy"
    assert govern("policy", "export", str(folder)).exit_code == 0
    document = yaml.safe_load((folder / "policy.yaml").read_text())
    document["rate_limits"] = {"free": {"per_minute": 60, "per_day": 1000}}
    (folder / "policy.yaml").write_text(yaml.safe_dump(document))
    assert govern("policy", "import", str(folder)).exit_code == 0

    again = tmp_path / "again"
    assert govern("policy", "export", str(again)).exit_code == 0
    exported = yaml.safe_load((again / "policy.yaml").read_text())
    assert exported["rate_limits"] == {"free": {"per_minute": 60, "per_day": 1000}}


def test_import_naming_an_unknown_tier_in_limits_changes_nothing(govern, tmp_path: Path):
    folder = tmp_path / "policy"
    govern("policy", "export", str(folder))
    document = yaml.safe_load((folder / "policy.yaml").read_text())
    document["rate_limits"] = {"platinum": {"per_minute": 1}}
    (folder / "policy.yaml").write_text(yaml.safe_dump(document))

    result = govern("policy", "import", str(folder))
    assert result.exit_code != 0
    assert "unknown tier 'platinum'" in result.output
    govern("policy", "export", str(tmp_path / "live"))
    assert "rate_limits" not in yaml.safe_load((tmp_path / "live" / "policy.yaml").read_text())


def test_limits_per_model_group_are_read_and_written_back():
    limits = {"free": {"per_minute": 60,
                       "model_groups": {"open": {"per_minute": 5, "organisation": {"per_day": 50}}}},
              "verified": {"model_groups": {"open": {"per_day": 500}}}}
    document = parse_document({**BASE, "rate_limits": limits})
    assert document.rate_limits["free"] == RateLimit(
        60, model_groups=(("open", RateLimit(5, None, None, 50)),))
    assert document.rate_limits["verified"].of_group("open") == RateLimit(None, 500)
    assert document.rate_limits["verified"].windows() == ()
    assert document.as_dict()["rate_limits"] == limits


@pytest.mark.parametrize(("limits", "message"), [
    ({"free": {"model_groups": {"closed": {"per_minute": 5}}}}, "unknown model group 'closed'"),
    ({"free": {"model_groups": {}}}, "model_groups must map model groups"),
    ({"free": {"model_groups": {"open": {}}}}, "model_groups.open must set"),
    ({"free": {"model_groups": {"open": {"model_groups": {"open": {"per_minute": 1}}}}}},
     "unknown fields: model_groups"),
    ({"free": {"model_groups": {"open": {"per_minute": 0}}}}, "at least 1"),
])
def test_faulty_limits_per_model_group_are_refused(limits, message):
    with pytest.raises(PolicyRejected, match=message):
        parse_document({**BASE, "rate_limits": limits})
