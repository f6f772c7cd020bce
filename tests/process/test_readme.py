"""The README's shell examples, run as written by bash in the folder of a demo instance, after the
two commands (here: a demo instance and its server), in one shell as the README says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SharedServer

# The README is the newcomer's path: the embedded SQLite default.
pytestmark = pytest.mark.sqlite_only
README = Path(__file__).parents[2] / "README.md"
# A dozen CLI calls, each starting Python: on a busy 2-core machine that took past 120 s.
SCRIPT_TIMEOUT = 300
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Blocks that install govern, or that need a file the reader writes first (named in the README).
NOT_RUN_HERE = ("pip install", "cases.yaml", "issuers.yaml")


def examples() -> list[str]:
    return [block for block in BLOCK.findall(README.read_text())
            if not any(marker in block for marker in NOT_RUN_HERE)]


def test_the_readme_examples_run_as_written(shared_server: SharedServer):
    server, demo = shared_server.server, shared_server.demo
    root = demo.folder.parent
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    blocks = examples()
    assert blocks[0].startswith(". .venv/bin/activate && . instance/demo-keys.env\n")
    script = "set -euo pipefail\n" + "\n".join(
        f"echo; echo '--- example {number}'\n{block.replace('http://127.0.0.1:8000', server.url)}"
        for number, block in enumerate(blocks, 1))

    result = subprocess.run(["bash", "-c", script], cwd=root, env=demo.env(), capture_output=True,
                            text=True, timeout=SCRIPT_TIMEOUT)

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    outputs = re.split(r"^--- example \d+\n", result.stdout, flags=re.MULTILINE)[1:]
    assert len(outputs) == len(blocks) == 5
    check, evaluation, authorize, keys, exports = outputs
    answer = json.loads(check)
    assert answer | {"decision_id": "-", "rate_limit": "-"} == {
        "allow": True, "decision_id": "-", "tier": "verified", "reason": "granted_by_tier",
        "rule": "p, verified, standard, generate, allow", "policy_version": 3, "rate_limit": "-"}
    # The demo's rate limit (a sign-off needs one for every tier it opens).
    assert {k: answer["rate_limit"][k] for k in ("window", "limit", "remaining")} == {
        "window": "key-minute", "limit": 100_000, "remaining": 99_999}
    assert json.loads(evaluation)["decision"] is True
    assert json.loads(evaluation)["context"]["tier"] == "verified"
    assert authorize.startswith("HTTP/1.1 200")
    assert "organisation acme: tier verified, suspended" in keys
    assert re.search(r"^audit trail intact: \d+ event\(s\) verified$", keys, re.MULTILINE), keys
    assert "live state agrees with the trail" in keys
    assert "0 rows written to march.csv" in exports
