"""The npm packages some tests drive (an OpenID provider, axe-core), installed on first use from
their folder's lock file when tests/system-packages.sh has not done it already."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NPM_TIMEOUT = 300.0


def installed(folder: Path, package: str) -> Path:
    """The folder of `package` in `folder`/node_modules, after `npm ci` there if it is missing."""
    path = folder / "node_modules" / package
    if not path.is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed for the tests' npm packages (tests/system-packages.sh)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                       check=True, timeout=NPM_TIMEOUT, capture_output=True)
    return path
