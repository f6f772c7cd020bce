"""An ordinary (non-editable) `pip install` of the repository works on its own: from a folder far
from the checkout, `govern init`, `govern demo` and `govern serve` run and answer a check. This
proves templates/, policies/ and migrations/ ship inside the wheel (STYLE.md, packaging traps).

It installs govern's dependencies into a new virtual environment with pip as configured on the
machine (its index and caches), so it takes a while; it is the slowest test of the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

pytestmark = pytest.mark.sqlite_only  # the newcomer default: SQLite in ./instance

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import GovernCommand, Server

HTTP_TIMEOUT = 10.0

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900.0
# What a clean checkout would not have, and what an earlier build or run may have left behind.
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
                                    "instance", ".venv", ".pytest_cache", ".mypy_cache",
                                    ".ruff_cache", "node_modules")


def plain_environment() -> dict[str, str]:
    """This process's environment without govern settings or traces of the test virtualenv."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith("GOVERN_") and name not in ("VIRTUAL_ENV", "PYTHONPATH",
                                                               "PYTHONHOME")}


def run(args: list[str], *, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=plain_environment(), capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}\n"
                    f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def test_installed_wheel_initialises_and_serves_from_another_folder(
        tmp_path: Path, govern_command: GovernCommand, serve_process: Callable[..., Server]):
    source = tmp_path / "source"  # pip builds in the source folder: keep the checkout clean
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        cwd=tmp_path, timeout=INSTALL_TIMEOUT)
    shutil.rmtree(source)  # nothing may be found through the source tree any more

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([str(venv / "bin" / "python"), "-c",
                 "import govern.resources as r; print(r.__file__); "
                 "print(*(r.resource_dir(n) for n in ('templates', 'policies', 'migrations')), "
                 "sep='\\n')"], cwd=elsewhere).stdout.split()
    site_packages = next((venv / "lib").glob("python*/site-packages"))
    assert [Path(path) for path in where] == [
        site_packages / "govern" / "resources.py",
        *(site_packages / "govern" / "_bundled" / name
          for name in ("templates", "policies", "migrations")),
    ]

    govern = venv / "bin" / "govern"
    env = plain_environment()  # development mode, the instance folder under the working folder
    init = govern_command.run(env, "init", cwd=elsewhere, executable=govern)
    assert init.stdout.startswith(f"govern is ready: sqlite:///{elsewhere / 'instance'}")
    demo = govern_command.run(env, "demo", cwd=elsewhere, executable=govern)
    keys = govern_command.demo_keys(demo.stdout)

    server = serve_process(env, workers=1, executable=govern, cwd=elsewhere)
    response = requests.post(f"{server.url}/v1/check",
                             json={"model": "chat-standard", "capability": "generate"},
                             headers={"Authorization": f"Bearer {keys['verified']}"},
                             timeout=HTTP_TIMEOUT)

    assert response.status_code == 200, server.log()
    assert (response.json()["allow"], response.json()["reason"]) == (True, "granted_by_tier")
    assert server.stop() == 0, server.log()
