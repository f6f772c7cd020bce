"""The `govern` command, run in-process against the test instance: set-up, demo, checks, keys,
organisations, policy export/import/test, and one-line errors for bad input."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from factories import add_models, make_key, make_org
from flask import Flask
from sqlalchemy.orm import Session

from govern.identity.users import find_user, password_matches
from govern.models.api_key import ADMIN

KEY = r"gvk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"
DEMO_LINE = re.compile(rf"^  (demo-\S+)\s+(\S+)\s+({KEY})$", re.MULTILINE)


def one_line_error(result: Result) -> str:
    """The single error line of a failed command; fails the test on a traceback or anything more."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def live_version(govern: Any, folder: Path) -> int:
    """The live policy version, as `govern policy export` reports it."""
    result = govern("policy", "export", str(folder))
    assert result.exit_code == 0, result.output
    match = re.match(r"^policy version (\d+) written to ", result.output)
    assert match, result.output
    return int(match.group(1))


def policy_yaml(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "policy.yaml").read_text())
    return loaded


def write_cases(path: Path, cases: list[dict[str, str]]) -> Path:
    path.write_text(yaml.safe_dump(cases, sort_keys=False))
    return path


def created_key(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert re.fullmatch(KEY, result.stdout.strip()), result.stdout
    return result.stdout.strip()


def key_lines(govern: Any) -> dict[str, str]:
    """`govern keys list`, as prefix -> the rest of its line."""
    result = govern("keys", "list")
    assert result.exit_code == 0, result.output
    return {line[:16]: line[16:] for line in result.output.splitlines()}


# -- init ------------------------------------------------------------------------------------------
def test_init_prints_the_first_admin_once(govern: Any, app: Flask, session: Session) -> None:
    first = govern("init")

    assert first.exit_code == 0, first.output
    assert "shown only now" in first.output
    username = re.search(r"^  username: (\S+)$", first.output, re.MULTILINE)
    password = re.search(r"^  password: (\S+)$", first.output, re.MULTILINE)
    api_key = re.search(rf"^  API key:  ({KEY})$", first.output, re.MULTILINE)
    assert username and password and api_key, first.output
    assert username.group(1) == "admin"
    user = find_user(session, "admin")
    assert user is not None and password_matches(user, password.group(1))
    entry = app.extensions["govern.runtime"].get().keys.authenticate(api_key.group(1), time.time(), ADMIN)
    assert (entry.kind, entry.username) == (ADMIN, "admin")

    second = govern("init")

    assert second.exit_code == 0, second.output
    assert "an admin already exists; no new credentials were made" in second.output
    assert "password" not in second.output
    assert "gvk_" not in second.output


# -- demo and check --------------------------------------------------------------------------------
# Written from policies/policy.yaml: one question each tier may ask and one it may not.
DEMO_QUESTIONS = [
    ("free", "open-7b", "generate", 0, "ALLOW  granted_by_tier"),
    ("free", "chat-standard", "generate", 3, "DENY  tier_too_low"),
    ("verified", "chat-standard", "generate", 0, "ALLOW  granted_by_tier"),
    ("verified", "open-7b", "fine_tune", 3, "DENY  tier_too_low"),
    ("trusted", "frontier-1", "generate", 0, "ALLOW  granted_by_tier"),
    ("trusted", "frontier-1", "tools", 3, "DENY  tier_too_low"),
    ("internal", "research-preview", "fine_tune", 0, "ALLOW  granted_by_tier"),
    ("internal", "no-such-model", "generate", 3, "DENY  unknown_model"),
]


def test_demo_prints_a_key_per_tier_that_check_answers_for(govern: Any) -> None:
    result = govern("demo")

    assert result.exit_code == 0, result.output
    demo = {tier: (org, key) for org, tier, key in DEMO_LINE.findall(result.output)}
    assert sorted(demo) == ["free", "internal", "trusted", "verified"]
    assert {tier: org for tier, (org, _) in demo.items()} == {
        "free": "demo-free", "verified": "demo-verified", "trusted": "demo-trusted",
        "internal": "demo-internal"}

    for tier, model, capability, exit_code, verdict in DEMO_QUESTIONS:
        answer = govern("check", demo[tier][1], model, capability)
        assert answer.exit_code == exit_code, (tier, model, capability, answer.output)
        assert answer.output.startswith(verdict + ": "), answer.output
        assert f"tier: {tier}" in answer.output


def demo_keys(result: Result) -> dict[str, str]:
    assert result.exit_code == 0, result.output
    return {tier: key for _, tier, key in DEMO_LINE.findall(result.output)}


def live_keys(govern: Any) -> list[str]:
    """`govern keys list` lines of keys that still work."""
    return [line for line in key_lines(govern).values() if line.split()[0] == "active"]


def test_demo_writes_its_keys_for_the_shell_readable_by_its_owner_only(govern: Any, instance: Path) -> None:
    printed = demo_keys(govern("demo"))

    path = instance / "demo-keys.env"
    assert path.stat().st_mode & 0o777 == 0o600
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert [line.partition("=")[0] for line in lines] == [
        "export DEMO_FREE_KEY", "export DEMO_VERIFIED_KEY", "export DEMO_TRUSTED_KEY",
        "export DEMO_INTERNAL_KEY", "export PEP_KEY"]
    written = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert written["DEMO_VERIFIED_KEY"] == printed["verified"]
    assert re.fullmatch(KEY, written["PEP_KEY"])
    assert key_lines(govern)[written["PEP_KEY"][:16]].split()[:2] == ["active", "pep"]


def test_demo_run_twice_reuses_its_organisations_and_keys(govern: Any, instance: Path) -> None:
    first = demo_keys(govern("demo"))
    written = (instance / "demo-keys.env").read_text()
    second = demo_keys(govern("demo"))

    assert second == first
    assert (instance / "demo-keys.env").read_text() == written
    assert len(live_keys(govern)) == 5  # one per demo organisation and the gateway's
    orgs = govern("orgs", "list").output.splitlines()
    assert sorted(line.split()[1] for line in orgs) == ["demo-free", "demo-internal", "demo-trusted",
                                                        "demo-verified"]


def test_demo_whose_key_file_is_lost_replaces_its_keys_and_revokes_the_old(govern: Any,
                                                                            instance: Path) -> None:
    first = demo_keys(govern("demo"))
    (instance / "demo-keys.env").unlink()
    second = demo_keys(govern("demo"))

    assert set(first.values()).isdisjoint(second.values())
    assert len(live_keys(govern)) == 5
    assert govern("check", second["free"], "open-7b", "generate").exit_code == 0
    old = govern("check", first["free"], "open-7b", "generate")
    assert old.exit_code == 3 and old.output.startswith("DENY  key_revoked: "), old.output


def test_demo_replaces_a_key_revoked_since_and_keeps_the_others(govern: Any) -> None:
    first = demo_keys(govern("demo"))
    assert govern("keys", "revoke", first["trusted"][:16]).exit_code == 0
    second = demo_keys(govern("demo"))

    assert second["trusted"] != first["trusted"]
    assert {tier: key for tier, key in second.items() if tier != "trusted"} == {
        tier: key for tier, key in first.items() if tier != "trusted"}
    assert govern("check", second["trusted"], "frontier-1", "generate").exit_code == 0


def test_check_with_an_unknown_key_denies_with_the_reason(govern: Any) -> None:
    result = govern("check", "gvk_0123456789ab_" + "A" * 43, "open-7b", "generate")

    assert result.exit_code == 3
    assert result.output.startswith("DENY  key_unknown: ")
    assert "tier" not in result.output and "None" not in result.output, result.output


# -- keys ------------------------------------------------------------------------------------------
def test_keys_create_list_and_revoke(govern: Any, session: Session) -> None:
    add_models(session)
    assert govern("orgs", "create", "acme", "--tier", "verified").exit_code == 0

    key = created_key(govern("keys", "create", "--org", "acme", "--name", "ci"))
    prefix = key[:16]

    listed = key_lines(govern)
    assert list(listed) == [prefix]
    assert re.match(r"^  active\s+client acme\s+cap=-\s+last used never\s+ci$", listed[prefix])
    assert key not in govern("keys", "list").output
    assert govern("check", key, "chat-standard", "generate").exit_code == 0

    revoked = govern("keys", "revoke", prefix)
    assert (revoked.exit_code, revoked.output) == (0, f"key {prefix} revoked\n")
    assert key_lines(govern)[prefix].startswith("  revoked ")
    denied = govern("check", key, "chat-standard", "generate")
    assert denied.exit_code == 3
    assert denied.output.startswith("DENY  key_revoked: ")


def test_keys_create_with_cap_and_expiry(govern: Any, session: Session) -> None:
    add_models(session)
    govern("orgs", "create", "acme", "--tier", "trusted")

    key = created_key(govern("keys", "create", "--org", "acme", "--tier-cap", "free",
                             "--expires-in", "30d"))

    assert "cap=free" in key_lines(govern)[key[:16]]
    assert govern("check", key, "open-7b", "generate").exit_code == 0
    capped = govern("check", key, "chat-standard", "generate")
    assert capped.exit_code == 3
    assert capped.output.startswith("DENY  tier_too_low: ")
    assert "tier: free" in capped.output


def test_keys_list_filters_by_organisation(govern: Any, session: Session) -> None:
    make_key(session, "acme", tier="verified")
    other = make_key(session, "globex", tier="free")

    result = govern("keys", "list", "--org", "globex")

    assert result.exit_code == 0
    assert [line[:16] for line in result.output.splitlines()] == [other[:16]]


def test_keys_rotate_with_overlap_keeps_both_working(govern: Any, session: Session) -> None:
    add_models(session)
    old = make_key(session, "acme", tier="verified")

    rotated = govern("keys", "rotate", old[:16], "--overlap", "1h")

    new = created_key(rotated)
    assert f"{old[:16]} works until" in rotated.output
    assert govern("check", new, "open-7b", "generate").exit_code == 0
    assert govern("check", old, "open-7b", "generate").exit_code == 0
    assert set(key_lines(govern)) == {old[:16], new[:16]}


def test_keys_rotate_without_overlap_ends_the_old_key(govern: Any, session: Session) -> None:
    add_models(session)
    old = make_key(session, "acme", tier="verified")

    new = created_key(govern("keys", "rotate", old[:16]))

    expired = govern("check", old, "open-7b", "generate")
    assert expired.exit_code == 3
    assert expired.output.startswith("DENY  key_expired: ")
    assert govern("check", new, "open-7b", "generate").exit_code == 0
    assert key_lines(govern)[old[:16]].startswith("  expired ")


# -- orgs ------------------------------------------------------------------------------------------
def test_orgs_create_list_update_delete(govern: Any) -> None:
    created = govern("orgs", "create", "acme", "--tier", "verified")
    assert created.exit_code == 0, created.output
    assert re.fullmatch(r"organisation acme \(id \d+\) created in tier verified\n", created.output)

    listed = govern("orgs", "list")
    assert re.fullmatch(r"\s+\d+  acme\s+verified\n", listed.output)

    updated = govern("orgs", "update", "acme", "--tier", "trusted", "--suspend")
    assert (updated.exit_code, updated.output) == (
        0, "organisation acme: tier trusted, suspended\n")
    assert govern("orgs", "list").output.rstrip().endswith("trusted  SUSPENDED")

    renamed = govern("orgs", "update", "acme", "--rename", "acme-labs", "--unsuspend")
    assert (renamed.exit_code, renamed.output) == (
        0, "organisation acme-labs: tier trusted, active\n")

    deleted = govern("orgs", "delete", "acme-labs")
    assert (deleted.exit_code, deleted.output) == (0, "organisation acme-labs deleted\n")
    assert govern("orgs", "list").output == ""


def test_orgs_delete_with_keys_is_refused(govern: Any, session: Session) -> None:
    make_key(session, "acme", tier="verified")

    error = one_line_error(govern("orgs", "delete", "acme"))

    assert error == "Error: organisation 'acme' still has 1 key(s); suspend it instead"
    assert "acme" in govern("orgs", "list").output


# -- policy export / import ------------------------------------------------------------------------
def test_policy_export_then_import_round_trips(govern: Any, tmp_path: Path) -> None:
    version = live_version(govern, tmp_path / "exported")

    imported = govern("policy", "import", str(tmp_path / "exported"))

    assert (imported.exit_code, imported.output) == (0, f"policy version {version + 1} is live\n")
    assert live_version(govern, tmp_path / "again") == version + 1
    assert policy_yaml(tmp_path / "again") == policy_yaml(tmp_path / "exported")
    assert (tmp_path / "again" / "model.conf").read_text() == (
        tmp_path / "exported" / "model.conf").read_text()


def test_exported_policy_is_the_default_policy(govern: Any, tmp_path: Path) -> None:
    live_version(govern, tmp_path / "exported")

    exported = policy_yaml(tmp_path / "exported")
    default = yaml.safe_load((Path(__file__).parent.parent / "policies" / "policy.yaml").read_text())
    assert exported == default


def test_policy_import_with_an_unknown_tier_fails_and_changes_nothing(govern: Any,
                                                                      tmp_path: Path) -> None:
    version = live_version(govern, tmp_path / "proposal")
    document = policy_yaml(tmp_path / "proposal")
    document["grants"].append({"tier": "gold", "target": "open", "capability": "generate"})
    (tmp_path / "proposal" / "policy.yaml").write_text(yaml.safe_dump(document))

    error = one_line_error(govern("policy", "import", str(tmp_path / "proposal")))

    assert error == "Error: grant allow:gold:open:generate names an unknown tier 'gold'"
    assert live_version(govern, tmp_path / "after") == version


def test_policy_import_of_a_missing_folder_fails_in_one_line(govern: Any, tmp_path: Path) -> None:
    error = one_line_error(govern("policy", "import", str(tmp_path / "nowhere")))

    assert error.startswith("Error: cannot read the policy folder ")


# -- policy test -----------------------------------------------------------------------------------
PASSING_CASES = [
    {"tier": "free", "model": "open-7b", "capability": "generate", "expect": "allow"},
    {"tier": "free", "model": "chat-standard", "capability": "generate", "expect": "deny",
     "reason": "tier_too_low"},
    {"tier": "trusted", "model": "chat-standard", "capability": "fine_tune", "expect": "allow",
     "reason": "granted_by_tier"},
    {"organisation": "acme", "model": "frontier-1", "capability": "tools", "expect": "deny"},
]


def test_policy_test_passes_on_correct_cases(govern: Any, session: Session, tmp_path: Path) -> None:
    add_models(session)
    make_key(session, "acme", tier="trusted")
    cases = write_cases(tmp_path / "cases.yaml", PASSING_CASES)

    result = govern("policy", "test", str(cases))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 case(s) passed"
    assert len([line for line in result.output.splitlines() if line.startswith("ok   ")]) == 4


def test_policy_test_stops_at_the_first_mismatch_naming_the_case(govern: Any, session: Session,
                                                                 tmp_path: Path) -> None:
    add_models(session)
    cases = write_cases(tmp_path / "cases.yaml", [
        {"tier": "free", "model": "open-7b", "capability": "generate", "expect": "allow"},
        {"tier": "verified", "model": "frontier-1", "capability": "generate", "expect": "allow"},
        {"tier": "free", "model": "research-preview", "capability": "tools", "expect": "allow"},
    ])

    result = govern("policy", "test", str(cases))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines() == [
        "ok   1: tier free generate open-7b: allow (granted_by_tier)",
        "Error: case 2: tier verified generate frontier-1: expected allow, "
        "got deny (tier_too_low)",
    ]


def test_policy_test_checks_the_reason_too(govern: Any, session: Session, tmp_path: Path) -> None:
    add_models(session)
    cases = write_cases(tmp_path / "cases.yaml", [
        {"tier": "free", "model": "chat-standard", "capability": "generate", "expect": "deny",
         "reason": "not_granted"},
    ])

    error = one_line_error(govern("policy", "test", str(cases)))

    assert error == ("Error: case 1: tier free generate chat-standard: expected deny "
                     "(not_granted), got deny (tier_too_low)")


def test_policy_test_with_policy_dir_tests_the_proposal_not_the_live_policy(
        govern: Any, session: Session, tmp_path: Path) -> None:
    add_models(session)
    version = live_version(govern, tmp_path / "proposal")
    document = policy_yaml(tmp_path / "proposal")
    document["grants"].append({"tier": "free", "target": "standard", "capability": "generate"})
    (tmp_path / "proposal" / "policy.yaml").write_text(yaml.safe_dump(document))
    cases = write_cases(tmp_path / "cases.yaml", [
        {"tier": "free", "model": "chat-standard", "capability": "generate", "expect": "allow"},
    ])

    proposed = govern("policy", "test", str(cases), "--policy", str(tmp_path / "proposal"))
    live = govern("policy", "test", str(cases))

    assert proposed.exit_code == 0, proposed.output
    assert proposed.output.splitlines()[-1] == "1 case(s) passed"
    assert live.exit_code == 1
    assert "expected allow, got deny (tier_too_low)" in live.output
    assert live_version(govern, tmp_path / "after") == version  # testing changes nothing


def test_policy_test_case_for_a_key_uses_its_capped_tier(govern: Any, session: Session,
                                                         tmp_path: Path) -> None:
    add_models(session)
    make_org(session, "acme", "internal")
    key = make_key(session, "acme", tier_cap="verified")
    cases = write_cases(tmp_path / "cases.yaml", [
        {"key": key[:16], "model": "chat-standard", "capability": "generate", "expect": "allow"},
        {"key": key[:16], "model": "frontier-1", "capability": "generate", "expect": "deny",
         "reason": "tier_too_low"},
    ])

    result = govern("policy", "test", str(cases))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "2 case(s) passed"


def test_policy_test_with_an_invalid_proposal_fails_in_one_line(govern: Any, session: Session,
                                                               tmp_path: Path) -> None:
    live_version(govern, tmp_path / "proposal")
    document = policy_yaml(tmp_path / "proposal")
    document["grants"].append({"tier": "free", "target": "open", "capability": "teleport"})
    (tmp_path / "proposal" / "policy.yaml").write_text(yaml.safe_dump(document))
    cases = write_cases(tmp_path / "cases.yaml", PASSING_CASES[:1])

    error = one_line_error(govern("policy", "test", str(cases), "--policy",
                                  str(tmp_path / "proposal")))

    assert error == "Error: grant allow:free:open:teleport names an unknown capability 'teleport'"


def test_policy_test_naming_an_unknown_organisation_fails_in_one_line(govern: Any,
                                                                     tmp_path: Path) -> None:
    cases = write_cases(tmp_path / "cases.yaml", [
        {"organisation": "nosuch", "model": "open-7b", "capability": "generate", "expect": "allow"},
    ])

    assert one_line_error(govern("policy", "test", str(cases))) == (
        "Error: no organisation 'nosuch'")


def test_policy_test_rejects_a_malformed_case_file(govern: Any, tmp_path: Path) -> None:
    cases = write_cases(tmp_path / "cases.yaml", [{"tier": "free", "model": "open-7b"}])

    error = one_line_error(govern("policy", "test", str(cases)))

    assert error.startswith("Error: case 1: needs exactly one of tier/organisation/key")


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["keys", "create", "--org", "nosuch"], "Error: no organisation 'nosuch'"),
    (["keys", "list", "--org", "nosuch"], "Error: no organisation 'nosuch'"),
    (["orgs", "update", "nosuch", "--tier", "free"], "Error: no organisation 'nosuch'"),
    (["orgs", "delete", "nosuch"], "Error: no organisation 'nosuch'"),
    (["orgs", "create", "globex", "--tier", "gold"],
     "Error: unknown tier 'gold'; tiers are free, verified, trusted, internal"),
    (["keys", "create", "--org", "acme", "--expires-in", "5x"],
     "Error: '5x' is not a duration like 90s, 15m, 12h or 30d"),
    (["keys", "create", "--org", "acme", "--expires-in", "3000000d"],
     "Error: '3000000d' is longer than 36500d"),
    (["keys", "create", "--org", "acme", "--expires-in", "99999999999999999999d"],
     "Error: '99999999999999999999d' is longer than 36500d"),
    (["orgs", "create", "acme", "--tier", "free"],
     "Error: an organisation named 'acme' already exists"),
    (["keys", "create", "--org", "acme", "--tier-cap", "gold"],
     "Error: unknown tier 'gold'; tiers are free, verified, trusted, internal"),
    (["keys", "revoke", "gvk_000000000000"], "Error: no key with prefix 'gvk_000000000000'"),
    (["keys", "rotate", "gvk_000000000000"], "Error: no key with prefix 'gvk_000000000000'"),
], ids=["keys-create-org", "keys-list-org", "orgs-update", "orgs-delete", "orgs-create-tier",
        "duration", "duration-too-long", "duration-overflow", "orgs-create-twice", "tier-cap",
        "revoke", "rotate"])
def test_bad_input_is_a_one_line_error(govern: Any, session: Session, args: list[str],
                                       message: str) -> None:
    make_key(session, "acme", tier="verified")

    assert one_line_error(govern(*args)) == message


def test_bad_overlap_duration_is_a_one_line_error_and_nothing_changes(govern: Any,
                                                                      session: Session) -> None:
    key = make_key(session, "acme", tier="verified")

    error = one_line_error(govern("keys", "rotate", key[:16], "--overlap", "5x"))

    assert error == "Error: '5x' is not a duration like 90s, 15m, 12h or 30d"
    assert list(key_lines(govern)) == [key[:16]]
