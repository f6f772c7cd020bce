"""`govern policy test` with governance: the live state by default, a fixture file, a case's own
governance, and a run from files alone that touches no database."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result
from factories import ACTOR, add_models, make_governed_model, make_org, make_signed_model
from sqlalchemy.orm import Session

from govern.cli import cli
from govern.governance.suspension import suspend_model
from govern.resources import resource_dir

TRUSTED_FRONTIER = {"tier": "trusted", "model": "frontier-1", "capability": "generate", "expect": "allow"}


def write(path: Path, content: object) -> Path:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def policy_folder(path: Path) -> Path:
    """The shipped policy with frontier-1, chat-standard and open-7b in their groups."""
    path.mkdir()
    shutil.copy(resource_dir("policies") / "model.conf", path / "model.conf")
    document = yaml.safe_load((resource_dir("policies") / "policy.yaml").read_text())
    document["model_groups"].update(open=["open-7b"], standard=["chat-standard"], frontier=["frontier-1"])
    document.pop("routes", None)
    return write(path / "policy.yaml", document).parent


def signed_frontier(session: Session) -> Any:
    add_models(session)
    model, _signed = make_signed_model(session, "frontier-1", group="frontier", tier="trusted")
    return model


# -- the live governance -------------------------------------------------------------------------
def test_a_signed_off_model_is_allowed_under_the_live_governance(govern, session, tmp_path):
    signed_frontier(session)
    result = govern("policy", "test", str(write(tmp_path / "cases.yaml", [TRUSTED_FRONTIER])))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok   1: tier trusted generate frontier-1: allow (granted_by_tier)", "1 case(s) passed"]


def test_a_suspended_model_fails_the_case_expecting_allow_with_a_clear_message(govern, session, tmp_path):
    suspend_model(session, actor=ACTOR, model=signed_frontier(session), reason="jailbreak")
    error = one_line_error(govern("policy", "test", str(write(tmp_path / "cases.yaml", [TRUSTED_FRONTIER]))))
    assert error == ("Error: case 1: tier trusted generate frontier-1: expected allow, got deny "
                     "(model_suspended); governance: the model is suspended (kill switch)")


def test_a_model_without_sign_off_is_top_tier_only_for_a_proposed_policy_too(govern, session, tmp_path):
    add_models(session)
    make_governed_model(session, "frontier-1", group="frontier", post="medium")
    cases = write(tmp_path / "cases.yaml", [
        {**TRUSTED_FRONTIER, "expect": "deny", "reason": "not_signed_off"},
        {"tier": "internal", "model": "frontier-1", "capability": "generate", "expect": "allow"}])
    result = govern("policy", "test", str(cases), "--policy", str(policy_folder(tmp_path / "p")))
    assert result.exit_code == 0, result.output


def test_an_organisation_case_is_decided_under_the_live_governance(govern, session, tmp_path):
    suspend_model(session, actor=ACTOR, model=signed_frontier(session), reason="jailbreak")
    make_org(session, "acme", "trusted")
    cases = write(tmp_path / "cases.yaml", [{"organisation": "acme", "model": "frontier-1",
                                             "capability": "generate", "expect": "deny",
                                             "reason": "model_suspended"}])
    assert govern("policy", "test", str(cases)).exit_code == 0


# -- a case's own governance, and a fixture --------------------------------------------------------
def test_a_case_may_name_the_governance_it_is_decided_under(govern, session, tmp_path):
    signed_frontier(session)
    cases = write(tmp_path / "cases.yaml", [
        {**TRUSTED_FRONTIER, "expect": "deny", "reason": "model_suspended",
         "governance": {"frontier-1": {"suspended": True}}},
        {**TRUSTED_FRONTIER, "expect": "deny", "reason": "signoff_below_tier",
         "governance": {"frontier-1": {"signed_off_for": "internal"}}},
        {**TRUSTED_FRONTIER, "expect": "deny", "reason": "not_signed_off",
         "governance": {"frontier-1": {"signed_off_for": None}}},
        TRUSTED_FRONTIER,  # the override held for its case only
    ])
    result = govern("policy", "test", str(cases))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 case(s) passed"


def test_a_governance_fixture_replaces_the_live_state(govern, session, tmp_path):
    signed_frontier(session)
    fixture = write(tmp_path / "governance.yaml", {"frontier-1": {"suspended": True}})
    error = one_line_error(govern("policy", "test", str(write(tmp_path / "cases.yaml", [TRUSTED_FRONTIER])),
                                  "--governance", str(fixture)))
    assert error.endswith("got deny (model_suspended); governance: the model is suspended (kill switch)")


def test_a_malformed_governance_entry_fails_in_one_line(govern, session, tmp_path):
    cases = write(tmp_path / "cases.yaml", [{**TRUSTED_FRONTIER, "governance": {"frontier-1": "open"}}])
    assert one_line_error(govern("policy", "test", str(cases))) == (
        "Error: case 1: governance: frontier-1 takes signed_off_for, suspended and governed, "
        "e.g. {signed_off_for: trusted}")


# -- from files alone ------------------------------------------------------------------------------
def offline_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment of a CI job with no database: its would-be database must stay uncreated."""
    nowhere = tmp_path / "no-instance"
    return {"GOVERN_ENV": "testing", "GOVERN_INSTANCE_PATH": str(nowhere),
            "GOVERN_DATABASE_URL": f"sqlite:///{nowhere / 'never.db'}",
            "GOVERN_SECRET_KEY": "test-secret-" + "x" * 40}, nowhere


def test_offline_runs_from_the_policy_folder_and_fixture_without_a_database(tmp_path, monkeypatch):
    env, nowhere = offline_env(tmp_path)
    monkeypatch.chdir(tmp_path)
    folder = policy_folder(tmp_path / "policy")
    fixture = write(tmp_path / "governance.yaml", {"frontier-1": {"signed_off_for": "trusted"},
                                                   "open-7b": {"signed_off_for": "verified"},
                                                   "chat-standard": {"suspended": True}})
    cases = write(tmp_path / "cases.yaml", [
        TRUSTED_FRONTIER,
        {"tier": "free", "model": "open-7b", "capability": "generate", "expect": "deny",
         "reason": "signoff_below_tier"},
        {"tier": "verified", "model": "chat-standard", "capability": "generate", "expect": "deny",
         "reason": "model_suspended"},
        {"tier": "verified", "model": "open-7b", "capability": "generate", "expect": "allow"},
    ])
    result = CliRunner().invoke(cli, ["policy", "test", str(cases), "--policy", str(folder),
                                      "--governance", str(fixture), "--offline"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 case(s) passed"
    assert not nowhere.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.yaml", "governance.yaml", "policy"]


def test_offline_without_a_fixture_has_no_model_under_governance(tmp_path):
    env, nowhere = offline_env(tmp_path)
    cases = write(tmp_path / "cases.yaml", [{**TRUSTED_FRONTIER, "tier": "trusted"}])
    result = CliRunner().invoke(cli, ["policy", "test", str(cases), "--policy",
                                      str(policy_folder(tmp_path / "policy")), "--offline"], env=env)
    assert result.exit_code == 0, result.output
    assert not nowhere.exists()


def test_offline_refuses_a_case_only_the_database_could_answer(tmp_path):
    env, nowhere = offline_env(tmp_path)
    cases = write(tmp_path / "cases.yaml", [{"organisation": "acme", "model": "open-7b",
                                             "capability": "generate", "expect": "allow"}])
    result = CliRunner().invoke(cli, ["policy", "test", str(cases), "--policy",
                                      str(policy_folder(tmp_path / "policy")), "--offline"], env=env)
    assert one_line_error(result) == ("Error: case 1 names organisation acme, which only the "
                                      "database knows: offline, cases name tiers")
    assert not nowhere.exists()


def test_offline_needs_a_policy_folder(tmp_path):
    env, nowhere = offline_env(tmp_path)
    result = CliRunner().invoke(cli, ["policy", "test", str(write(tmp_path / "c.yaml", [TRUSTED_FRONTIER])),
                                      "--offline"], env=env)
    assert result.exit_code == 2
    assert "--offline tests a policy folder: name it with --policy DIR" in result.output
    assert not nowhere.exists()
