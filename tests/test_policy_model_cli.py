"""`govern policy import` holds the Casbin model to the same rules as the admin API: only an allowed
model (by SHA-256), evaluated on every question before it is stored; a refusal is one line, exit
status 1, and the live policy stays as it was."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from factories import casbin_model, sha256_hex

ALLOW_ALL = casbin_model("r.sub == r.sub")
FAILS_WHEN_EVALUATED = casbin_model("true")
# The operator's own model (allowed by its hash): the shipped matcher in extra parentheses.
REWRITTEN = casbin_model(
    '((p.sub == "*" || g(r.sub, p.sub)) && (p.obj == "*" || r.obj == p.obj || g2(r.obj, p.obj)) '
    '&& (p.act == "*" || r.act == p.act))')


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    allowed = ",".join([sha256_hex(FAILS_WHEN_EVALUATED), sha256_hex(REWRITTEN)])
    return {**env, "GOVERN_ALLOWED_MODEL_SHA256": allowed}


def exported(govern: Any, folder: Path) -> int:
    result = govern("policy", "export", str(folder))
    assert result.exit_code == 0, result.output
    match = re.match(r"^policy version (\d+) written to ", result.output)
    assert match, result.output
    return int(match.group(1))


def import_model(govern: Any, folder: Path, model_conf: str) -> Any:
    (folder / "model.conf").write_text(model_conf)
    return govern("policy", "import", str(folder))


def test_importing_an_allow_all_model_fails_in_one_line_and_changes_nothing(
        govern: Any, tmp_path: Path) -> None:
    version = exported(govern, tmp_path / "proposal")

    result = import_model(govern, tmp_path / "proposal", ALLOW_ALL)

    assert (result.exit_code, result.output) == (1, (
        f"Error: the Casbin model (SHA-256 {sha256_hex(ALLOW_ALL)}) is not allowed: govern accepts "
        "the shipped policies/model.conf and the models whose SHA-256 the host operator lists in "
        "GOVERN_ALLOWED_MODEL_SHA256\n"))
    assert exported(govern, tmp_path / "after") == version
    assert "r.sub == r.sub" not in (tmp_path / "after" / "model.conf").read_text()


def test_importing_a_model_that_fails_when_evaluated_fails_in_one_line(
        govern: Any, tmp_path: Path) -> None:
    version = exported(govern, tmp_path / "proposal")

    result = import_model(govern, tmp_path / "proposal", FAILS_WHEN_EVALUATED)

    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith("Error: the Casbin model fails when evaluated (tier free, ")
    assert exported(govern, tmp_path / "after") == version


def test_importing_a_model_the_operator_allows_makes_it_live(govern: Any, tmp_path: Path) -> None:
    version = exported(govern, tmp_path / "proposal")

    result = import_model(govern, tmp_path / "proposal", REWRITTEN)

    assert (result.exit_code, result.output) == (0, f"policy version {version + 1} is live\n")
    assert exported(govern, tmp_path / "after") == version + 1
    assert (tmp_path / "after" / "model.conf").read_text() == REWRITTEN


def test_a_malformed_allowed_digest_stops_the_command_in_one_line(govern: Any, tmp_path: Path) -> None:
    misconfigured = type(govern)({**govern.env, "GOVERN_ALLOWED_MODEL_SHA256": "abc123, " + "0" * 64})

    result = misconfigured("policy", "export", str(tmp_path / "out"))

    assert (result.exit_code, result.output) == (1, (
        "Error: GOVERN_ALLOWED_MODEL_SHA256 must list SHA-256 digests (64 hex digits), "
        "comma-separated; got 'abc123'\n"))
