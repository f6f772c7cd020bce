"""The layering, typing and lint rules of STYLE.md, checked by their tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.sqlite_only  # the code is the same whichever database the suite runs on: check it once
@pytest.mark.parametrize("command", [
    ["lint-imports"],
    ["mypy"],
    ["ruff", "check", "govern", "tests"],
], ids=["layers", "types", "lint"])
def test_code_passes(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
