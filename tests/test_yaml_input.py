"""YAML read from a user: anchors and aliases are refused before anything expands (an alias bomb of
about a kilobyte would otherwise take gigabytes), and error messages quote input only in part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_cli import live_version, one_line_error, policy_yaml

from govern.errors import InvalidInput, PolicyRejected
from govern.governance.presets import presets
from govern.identity.issuer_config import parse_issuer
from govern.policy.document import parse_document
from govern.yaml_input import dump_yaml, load_yaml

REPOSITORY = Path(__file__).resolve().parent.parent


def alias_bomb(top_key: str) -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{','.join([f'*{previous}'] * 9)}]")
    lines.append(f"{top_key}: [*i]")
    return "\n".join(lines) + "\n"


def test_the_bomb_is_about_a_kilobyte() -> None:
    assert len(alias_bomb("issuers")) < 1200


def test_issuers_import_refuses_an_alias_bomb_in_one_line(govern: Any, tmp_path: Path) -> None:
    bomb = tmp_path / "issuers.yaml"
    bomb.write_text(alias_bomb("issuers"))

    error = one_line_error(govern("issuers", "import", str(bomb)))

    assert error == (f"Error: {bomb} is not valid YAML: anchors and aliases (& and *) are not "
                     "allowed (line 1, column 4)")


def test_policy_import_refuses_an_alias_bomb_and_changes_nothing(govern: Any, tmp_path: Path) -> None:
    version = live_version(govern, tmp_path / "proposal")
    (tmp_path / "proposal" / "policy.yaml").write_text(alias_bomb("grants"))

    error = one_line_error(govern("policy", "import", str(tmp_path / "proposal")))

    assert error == (f"Error: {tmp_path / 'proposal' / 'policy.yaml'} is not valid YAML: anchors "
                     "and aliases (& and *) are not allowed (line 1, column 4)")
    assert live_version(govern, tmp_path / "after") == version


def test_a_single_harmless_alias_is_refused_too() -> None:
    with pytest.raises(InvalidInput, match=r"^here is not valid YAML: anchors and aliases"):
        load_yaml("base: &b {tier: free}\ncopy: *b\n", "here")


def test_a_merge_key_needs_an_alias_and_is_refused() -> None:
    with pytest.raises(InvalidInput, match="anchors and aliases"):
        load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n", "here")


def test_broken_yaml_is_one_line_naming_the_place() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_yaml("grants: [unclosed\n", "policy.yaml")

    assert caught.value.message.startswith("policy.yaml is not valid YAML: ")
    assert "\n" not in caught.value.message


def test_a_long_bad_value_in_a_policy_is_quoted_only_in_part(govern: Any, tmp_path: Path) -> None:
    live_version(govern, tmp_path / "proposal")
    document = policy_yaml(tmp_path / "proposal")
    document["grants"].append({"tier": "x" * 100_000, "target": "open", "capability": "generate"})
    (tmp_path / "proposal" / "policy.yaml").write_text(yaml.safe_dump(document))

    error = one_line_error(govern("policy", "import", str(tmp_path / "proposal")))

    assert error.startswith("Error: grant allow:")
    assert "'xxxxxxxx" in error
    assert "... (100002 characters)" in error
    assert len(error) < 1000


def test_a_long_bad_value_in_a_policy_document_is_capped() -> None:
    with pytest.raises(PolicyRejected) as caught:
        parse_document({"tiers": ["free"], "capabilities": ["generate"],
                        "model_groups": {"open": ["m" * 50_000 + " !"]}, "grants": []})

    assert len(caught.value.message) < 400
    assert caught.value.message.endswith("... (50004 characters) is not a valid name "
                                         "(letters, digits, . _ : -)")


def test_a_long_bad_value_in_an_issuer_is_capped() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_issuer({"name": "corp", "issuer": "https://id.example.org", "audiences": ["govern"],
                      "default_tier": "t" * 50_000}, tiers=["free"])

    assert len(caught.value.message) < 400
    assert "... (50002 characters) is not a tier of the policy (free)" in caught.value.message


@pytest.mark.parametrize("path", sorted((REPOSITORY / "policies").rglob("*.yaml")),
                         ids=lambda path: path.name)
def test_every_shipped_yaml_file_still_loads(path: Path) -> None:
    assert load_yaml(path.read_text(), str(path)) == yaml.safe_load(path.read_text())


def test_the_shipped_presets_still_load() -> None:
    assert set(presets()) == {"preparedness-2023", "preparedness-2025"}


def test_a_value_used_twice_is_written_out_twice_and_reads_back() -> None:
    shared = ["gpt", "chat"]

    text = dump_yaml({"a": shared, "b": shared})

    assert "&" not in text and "*" not in text
    assert load_yaml(text, "export") == {"a": ["gpt", "chat"], "b": ["gpt", "chat"]}
