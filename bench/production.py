"""govern as the benchmarks run it: with production settings, nothing turned off to go faster.

    python bench/production.py env                # the settings, as shell `export` lines
    python bench/production.py rate-limits        # rate limits on every tier of the live policy

`env` gives production mode (with a random secret key) and the JSON access log on; `rate-limits`
sets a limit on every tier of GOVERN_INSTANCE_PATH's live policy as an admin would, with
`govern policy export`, the limits added, then `govern policy import`. The limits are high enough
never to refuse (a run asks well under 10^5 decisions a minute per key), but every decision is
counted against them. bench/run.sh and bench/scale_bench.py both use this.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from govern.yaml_input import load_yaml

PER_MINUTE = 10_000_000
PER_DAY = 1_000_000_000


def settings() -> dict[str, str]:
    """The GOVERN_* settings of a production instance, a fresh secret key each call."""
    return {"GOVERN_ENV": "production", "GOVERN_SECRET_KEY": secrets.token_urlsafe(48),
            "GOVERN_ACCESS_LOG": "on"}


def add_rate_limits(govern: str | Path, env: Mapping[str, str]) -> None:
    """Put PER_MINUTE and PER_DAY on every tier of the live policy of the instance `env` names.
    Raises RuntimeError with govern's own message when the policy cannot be exported or imported."""
    with tempfile.TemporaryDirectory() as folder:
        _run(govern, env, "policy", "export", folder)
        policy = Path(folder) / "policy.yaml"
        tiers = load_yaml(policy.read_text(), "the exported policy")["tiers"]
        with policy.open("a") as out:
            out.write("rate_limits:\n")
            for tier in tiers:
                out.write(f"  {tier}: {{per_minute: {PER_MINUTE}, per_day: {PER_DAY}}}\n")
        _run(govern, env, "policy", "import", folder, "--comment", "benchmark: rate limits on every tier")


def _run(govern: str | Path, env: Mapping[str, str], *args: str) -> None:
    done = subprocess.run([str(govern), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"govern {' '.join(args[:2])} failed: {said}")


def main() -> int:
    command = sys.argv[1] if len(sys.argv) == 2 else ""
    if command == "env":
        print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in settings().items()))
    elif command == "rate-limits":
        try:
            add_rate_limits(Path(sys.executable).parent / "govern", os.environ)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
    else:
        print("usage: python bench/production.py env | rate-limits", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
