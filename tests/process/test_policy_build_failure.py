"""Propagation never stops, on a real `govern serve` with two workers: while the newest policy
version cannot be built (written straight into the database), every worker keeps the last good
policy, still applies a key revocation, an organisation suspension and a model's kill switch within
the propagation bound, and names the failed version and why on /readyz and /v1/status. A server
started with a broken newest version answers decisions with the newest version that builds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import requests
import sqlalchemy

from govern import create_app
from govern.extensions import current_session, db
from govern.governance.registry import find_model
from govern.governance.suspension import suspend_model
from govern.resources import resource_dir

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0
PROPAGATION_BOUND = 2.0  # as in test_serve.py: the design's one second, with room for a busy machine
SHIPPED_MODEL = (resource_dir("policies") / "model.conf").read_text()
FAILS_WHEN_EVALUATED = SHIPPED_MODEL.rpartition("\nm = ")[0] + "\nm = true\n"
ALLOWED = hashlib.sha256(FAILS_WHEN_EVALUATED.encode()).hexdigest()  # stopped by evaluation alone
FAILURE_REASON = ("the Casbin model fails when evaluated (tier free, model ?probe, capability "
                  "generate): NameNotDefined: 'true' is not defined for expression 'true'")


def store_directly(database_url: str, model_conf: str) -> tuple[int, int]:
    """A copy of the newest policy version with `model_conf`, written into the database behind
    govern's back, its counter bumped; (the version before, the new version)."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as conn:
            newest = conn.execute(sqlalchemy.text("SELECT max(version) FROM policy_version")).scalar_one()
            conn.execute(sqlalchemy.text(
                "INSERT INTO policy_version (version, document, model_conf, created_at, actor, comment) "
                "SELECT version + 1, document, :model, created_at, 'db-edit', '' FROM policy_version "
                "WHERE version = :newest"), {"model": model_conf, "newest": newest})
            conn.execute(sqlalchemy.text("UPDATE change_counter SET value = :version WHERE name = 'policy'"),
                         {"version": newest + 1})
    finally:
        engine.dispose()
    return newest, newest + 1


def check(server: Server, key: str, model: str, session: requests.Session) -> requests.Response:
    return session.post(f"{server.url}/v1/check", json={"model": model, "capability": "generate"},
                        headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)


def answer(response: requests.Response) -> str:
    """'allow', the deny reason, or '401 <code>'."""
    if response.status_code == 401:
        return f"401 {response.json()['code']}"
    assert response.status_code == 200, response.text
    return "allow" if response.json()["allow"] else str(response.json()["reason"])


def every_worker_answers(server: Server, key: str, model: str, expected: str) -> None:
    answers = server.until_every_worker(lambda s: check(server, key, model, s),
                                        lambda r: answer(r) == expected, within=PROPAGATION_BOUND)
    assert {pid: answer(r) for pid, r in answers.items()} == dict.fromkeys(server.worker_pids(), expected)


def test_changes_reach_every_worker_while_the_newest_policy_cannot_be_built(
        live_server, demo_instance: DemoInstance):
    server: Server = live_server(GOVERN_ALLOWED_MODEL_SHA256=ALLOWED)
    keys = demo_instance.keys
    workers = server.worker_pids()
    for key, model in ((keys["verified"], "chat-standard"), (keys["free"], "open-7b"),
                       (keys["trusted"], "frontier-1")):
        every_worker_answers(server, key, model, "allow")  # and each worker has the key cached

    good, failed = store_directly(demo_instance.database_url, FAILS_WHEN_EVALUATED)
    failure = {"version": failed, "reason": FAILURE_REASON}
    ready = server.until_every_worker(lambda s: s.get(f"{server.url}/readyz", timeout=HTTP_TIMEOUT),
                                      lambda r: r.json().get("status") == "degraded",
                                      within=PROPAGATION_BOUND)
    assert {pid: (r.status_code, r.json()) for pid, r in ready.items()} == dict.fromkeys(
        workers, (200, {"status": "degraded", "policy_version": good, "policy_failure": failure}))

    # A key revoked with the CLI.
    prefix = "_".join(keys["verified"].split("_", 2)[:2])
    demo_instance.govern("keys", "revoke", prefix)
    every_worker_answers(server, keys["verified"], "chat-standard", "401 key_revoked")

    # An organisation suspended through the admin API.
    admin = {"Authorization": f"Bearer {demo_instance.admin_key}"}
    orgs = requests.get(f"{server.url}/v1/admin/organisations", headers=admin,
                        timeout=HTTP_TIMEOUT).json()["organisations"]
    free_org = next(org["id"] for org in orgs if org["name"] == "demo-free")
    suspended = requests.patch(f"{server.url}/v1/admin/organisations/{free_org}", headers=admin,
                               json={"suspended": True}, timeout=HTTP_TIMEOUT)
    assert suspended.status_code == 200, suspended.text
    every_worker_answers(server, keys["free"], "open-7b", "org_suspended")

    # The kill switch on frontier-1.
    app = create_app(demo_instance.env())
    with app.app_context():
        suspend_model(current_session(), actor="user:admin",
                      model=find_model(current_session(), "frontier-1"), reason="incident")
        db.session.remove()
        db.engine.dispose()
    every_worker_answers(server, keys["trusted"], "frontier-1", "model_suspended")

    statuses = {pid: server.on_worker(pid, lambda s: s.get(f"{server.url}/v1/status",
                                                           timeout=HTTP_TIMEOUT)).json()
                for pid in workers}
    assert {pid: (s["policy_version"], s["policy_failure"]) for pid, s in statuses.items()} == \
        dict.fromkeys(workers, (good, failure))


def test_a_server_started_with_a_broken_newest_version_answers_with_the_one_before(
        live_server, demo_instance: DemoInstance):
    good, failed = store_directly(demo_instance.database_url, FAILS_WHEN_EVALUATED)

    server: Server = live_server(GOVERN_ALLOWED_MODEL_SHA256=ALLOWED)

    workers = server.worker_pids()
    answers = server.until_every_worker(
        lambda s: check(server, demo_instance.keys["verified"], "chat-standard", s),
        lambda r: r.status_code == 200, within=PROPAGATION_BOUND)
    assert {pid: (r.status_code, r.json()["allow"], r.json()["policy_version"])
            for pid, r in answers.items()} == dict.fromkeys(workers, (200, True, good))
    ready = {pid: server.on_worker(pid, lambda s: s.get(f"{server.url}/readyz", timeout=HTTP_TIMEOUT))
             for pid in workers}
    assert {pid: (r.status_code, r.json()) for pid, r in ready.items()} == dict.fromkeys(
        workers, (200, {"status": "degraded", "policy_version": good,
                        "policy_failure": {"version": failed, "reason": FAILURE_REASON}}))
