"""The instance folder is its owner's alone: the folder 0700, the database (with its -wal and -shm),
the rate-limit counters and the signing key 0600, whatever the umask, from `govern init` on."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import GovernCommand, Server

HTTP_TIMEOUT = 10.0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    return {entry.name: mode(entry) for entry in folder.iterdir() if not entry.name.endswith(".lock")}


@pytest.mark.sqlite_only
def test_a_new_instance_is_private_to_its_owner(govern_command: GovernCommand, tmp_path: Path,
                                                serve_process: Callable[..., Server]):
    folder = tmp_path / "instance"
    env = govern_command.environment(folder)
    env.pop("GOVERN_SECRET_KEY")  # development: the secret is generated into the folder

    govern_command.run(env, "init", cwd=tmp_path)
    govern_command.run(env, "decisions", "public-key", cwd=tmp_path)  # makes the signing key

    assert mode(folder) == 0o700
    assert modes(folder) == dict.fromkeys(modes(folder), 0o600)
    assert {"govern.db", "secret_key", "signing_key.pem"} <= set(modes(folder))

    keys = govern_command.demo_keys(govern_command.run(env, "demo", cwd=tmp_path).stdout)
    server = serve_process(env)
    answer = requests.post(f"{server.url}/v1/check", json={"model": "open-7b", "capability": "generate"},
                           headers={"Authorization": f"Bearer {keys['free']}"}, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200
    # While it serves: the database's WAL files and the rate-limit counters are private too.
    assert {"govern.db-wal", "ratelimits.counters"} <= set(modes(folder))
    assert modes(folder) == dict.fromkeys(modes(folder), 0o600)


@pytest.mark.sqlite_only
def test_an_older_instance_is_made_private_on_start(govern_command: GovernCommand, tmp_path: Path):
    folder = tmp_path / "instance"
    env = govern_command.environment(folder)
    govern_command.run(env, "init", cwd=tmp_path)
    folder.chmod(0o755)
    (folder / "govern.db").chmod(0o644)

    govern_command.run(env, "orgs", "list", cwd=tmp_path)

    assert (mode(folder), mode(folder / "govern.db")) == (0o700, 0o600)
