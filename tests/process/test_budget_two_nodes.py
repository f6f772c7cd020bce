"""A token budget holds across two `govern serve` nodes sharing one PostgreSQL database and one
Redis: checks reserve their max_tokens on whichever node they reach, a usage report settled on the
other node replaces the reservation, and the budget then admits exactly what is left.

Runs on PostgreSQL whatever GOVERN_TEST_DATABASE says (it starts the cluster if needed)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import yaml
from databases import new_postgres_database

# Run once: it brings its own PostgreSQL database, whichever the suite runs on.
pytestmark = pytest.mark.sqlite_only

if TYPE_CHECKING:
    from conftest import GovernCommand, Server

HTTP_TIMEOUT = 10.0
BUDGET = 1_000
ESTIMATE = 70  # 14 reservations fit (980); a 15th would not
USED = 20  # what each allowed call turns out to use


def check(node: Server, key: str) -> dict[str, Any]:
    answer = requests.post(f"{node.url}/v1/check", timeout=HTTP_TIMEOUT,
                           json={"model": "open-7b", "capability": "generate",
                                 "context": {"max_tokens": ESTIMATE}},
                           headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_reservations_and_reports_on_two_nodes_share_one_budget(
        tmp_path: Path, govern_command: GovernCommand, serve_process: Callable[..., Server],
        redis_url: str):
    url = new_postgres_database()
    envs = [govern_command.environment(tmp_path / name, GOVERN_DATABASE_URL=url,
                                       GOVERN_RATELIMIT_STORAGE=redis_url) for name in ("node-a", "node-b")]
    govern_command.run(envs[0], "init", cwd=tmp_path)
    keys = govern_command.demo_keys(govern_command.run(envs[0], "demo", cwd=tmp_path).stdout)
    second = govern_command.run(envs[0], "keys", "create", "--org", "demo-free", cwd=tmp_path).stdout.strip()
    pep = govern_command.run(envs[0], "keys", "create", "--pep", "--name", "edge",
                             cwd=tmp_path).stdout.strip().split()[-1]
    folder = tmp_path / "policy-edit"
    govern_command.run(envs[0], "policy", "export", str(folder), cwd=tmp_path)
    document = yaml.safe_load((folder / "policy.yaml").read_text())
    document["budgets"] = {"free": [{"period": "day", "tokens": BUDGET}]}
    (folder / "policy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    govern_command.run(envs[0], "policy", "import", str(folder), cwd=tmp_path)
    nodes = [serve_process(env, workers=2) for env in envs]
    callers = [(nodes[index % 2], (keys["free"], second)[index // 2 % 2]) for index in range(30)]

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda caller: check(*caller), callers))

    allowed = [answer["decision_id"] for answer in answers if answer["allow"]]
    assert len(allowed) == 14
    assert [answer["reason"] for answer in answers].count("budget_exhausted") == 16

    # Each allowed call used 20 tokens, reported to the other node than the one most of them
    # reserved on: 14 × 20 = 280 used, 720 left, room for 10 more reservations of 70.
    for index, decision_id in enumerate(allowed):
        report = requests.post(f"{nodes[(index + 1) % 2].url}/v1/usage", timeout=HTTP_TIMEOUT,
                               json={"decision_id": decision_id, "input_tokens": 5,
                                     "output_tokens": USED - 5},
                               headers={"Authorization": f"Bearer {pep}"})
        assert report.status_code == 201, report.text

    with ThreadPoolExecutor(12) as pool:
        again = list(pool.map(lambda caller: check(*caller), callers[:16]))

    assert sum(answer["allow"] for answer in again) == 10
    assert [answer["reason"] for answer in again].count("budget_exhausted") == 6
