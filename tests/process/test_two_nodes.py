"""Two `govern serve` nodes on one PostgreSQL database agree within a second of a revocation, an
organisation suspension, a sign-off reversal and a model suspension: changes travel through the
database's change counters, with no protocol between the nodes.

Runs on PostgreSQL whatever GOVERN_TEST_DATABASE says (it starts the cluster if needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from databases import new_postgres_database

from govern import create_app
from govern.extensions import current_session, db
from govern.governance.registry import find_model
from govern.governance.signoffs import current_sign_off, reverse_sign_off
from govern.governance.suspension import suspend_model

# Run once: it brings its own PostgreSQL database, whichever the suite runs on.
pytestmark = pytest.mark.sqlite_only

if TYPE_CHECKING:
    from conftest import GovernCommand, Server

HTTP_TIMEOUT = 10.0
AGREE_WITHIN = 1.0  # seconds, from the moment the change is committed
REFRESH = "0.25"  # the production default


def answer(node: Server, key: str, model: str, capability: str = "generate") -> str:
    """'allow', a deny reason, or '401 <code>'."""
    response = requests.post(f"{node.url}/v1/check", json={"model": model, "capability": capability},
                             headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)
    if response.status_code == 401:
        return f"401 {response.json()['code']}"
    assert response.status_code == 200, response.text
    return "allow" if response.json()["allow"] else response.json()["reason"]


def until_both(nodes: list[Server], ask: Callable[[Server], str], expected: str) -> float:
    """Seconds until every node answers `expected` (asserted within AGREE_WITHIN)."""
    started = time.monotonic()
    while True:
        # Timed from when the round of questions began: an answer reflects the node's state when it
        # was asked, not the round trips of a busy test machine after that.
        asked_at = time.monotonic() - started
        answers = [ask(node) for node in nodes]
        if answers == [expected] * len(nodes):
            return asked_at
        assert asked_at <= AGREE_WITHIN, f"asked {asked_at:.2f} s after the change, nodes answer {answers}"
        time.sleep(0.02)


def test_two_nodes_on_postgresql_agree_within_a_second(
        tmp_path: Path, govern_command: GovernCommand, serve_process: Callable[..., Server]):
    url = new_postgres_database()
    envs = [govern_command.environment(tmp_path / name, GOVERN_DATABASE_URL=url,
                                       GOVERN_REFRESH_INTERVAL=REFRESH) for name in ("node-a", "node-b")]
    init = govern_command.run(envs[0], "init", cwd=tmp_path).stdout
    admin_key = next(line.split()[-1] for line in init.splitlines() if "API key:" in line)
    keys = govern_command.demo_keys(govern_command.run(envs[0], "demo", cwd=tmp_path).stdout)
    nodes = [serve_process(env, workers=2) for env in envs]

    assert [answer(n, keys["trusted"], "frontier-1") for n in nodes] == ["allow", "allow"]
    assert [answer(n, keys["verified"], "chat-standard") for n in nodes] == ["allow", "allow"]
    assert [answer(n, keys["free"], "open-7b") for n in nodes] == ["allow", "allow"]

    # A key revoked with the CLI.
    prefix = "_".join(keys["verified"].split("_", 2)[:2])
    govern_command.run(envs[0], "keys", "revoke", prefix, cwd=tmp_path)
    until_both(nodes, lambda n: answer(n, keys["verified"], "chat-standard"), "401 key_revoked")

    # An organisation suspended through node A's admin API.
    orgs = requests.get(f"{nodes[0].url}/v1/admin/organisations", timeout=HTTP_TIMEOUT,
                        headers={"Authorization": f"Bearer {admin_key}"}).json()["organisations"]
    free_org = next(org["id"] for org in orgs if org["name"] == "demo-free")
    suspended = requests.patch(f"{nodes[0].url}/v1/admin/organisations/{free_org}",
                               json={"suspended": True}, timeout=HTTP_TIMEOUT,
                               headers={"Authorization": f"Bearer {admin_key}"})
    assert suspended.status_code == 200
    until_both(nodes, lambda n: answer(n, keys["free"], "open-7b"), "org_suspended")

    # The board reverses frontier-1's sign-off; an admin suspends chat-standard (kill switch).
    app = create_app(envs[0])
    with app.app_context():
        model = find_model(current_session(), "frontier-1")
        signed = current_sign_off(current_session(), model)
        assert signed is not None
        reverse_sign_off(current_session(), actor="user:board-member", model=model,
                         sign_off_id=signed.id, rationale="new evidence of misuse")
        until_both(nodes, lambda n: answer(n, keys["trusted"], "frontier-1"), "not_signed_off")

        suspend_model(current_session(), actor="user:admin",
                      model=find_model(current_session(), "chat-standard"), reason="incident")
        until_both(nodes, lambda n: answer(n, keys["trusted"], "chat-standard"), "model_suspended")
        db.session.remove()
        db.engine.dispose()
