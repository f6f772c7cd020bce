"""Propagation never stops: when the newest policy version cannot be built (here: rows written into
the database behind govern's back), the last good policy stays in force, key, organisation and
model suspensions still apply, and /readyz and /v1/status name the failed version and why. A
process that starts with a broken newest version answers with the newest one that builds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from factories import (
    ACTOR,
    SHIPPED_MODEL,
    add_models,
    casbin_model,
    make_governed_model,
    make_key,
    sha256_hex,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from govern.decisions.runtime import Question
from govern.governance.registry import find_model
from govern.governance.suspension import suspend_model
from govern.identity.keys import revoke_key
from govern.identity.organisations import update_org
from govern.models import ChangeCounter, PolicyVersion
from govern.models.change_counter import POLICY
from govern.policy.document import parse_document
from govern.policy.store import current_policy, save_policy

ALLOW_ALL = casbin_model("r.sub == r.sub")
FAILS_WHEN_EVALUATED = casbin_model("true")
ALLOW_ALL_REASON = (f"the Casbin model (SHA-256 {sha256_hex(ALLOW_ALL)}) is not allowed: govern "
                    "accepts the shipped policies/model.conf and the models whose SHA-256 the host "
                    "operator lists in GOVERN_ALLOWED_MODEL_SHA256")
BROKEN = {
    "allow-all model": ({"model_conf": ALLOW_ALL}, ALLOW_ALL_REASON),
    "model failing when evaluated": ({"model_conf": FAILS_WHEN_EVALUATED},
                                     "the Casbin model fails when evaluated (tier free, model ?probe, "
                                     "capability generate): NameNotDefined: 'true' is not defined for "
                                     "expression 'true'"),
    "invalid document": ({"document": {"tiers": []}}, "the policy needs at least one tier"),
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # The failing model is allowed by the operator, so what stops it is its evaluation.
    return {**env, "GOVERN_ALLOWED_MODEL_SHA256": sha256_hex(FAILS_WHEN_EVALUATED)}


def store_directly(session: Session, model_conf: str | None = None,
                   document: dict[str, Any] | None = None) -> int:
    """A new newest policy version written straight into the database (and its counter bumped,
    as a careful intruder would), bypassing every check of the policy service."""
    newest = current_policy(session)
    version = newest.version + 1
    session.add(PolicyVersion(version=version, document=document or newest.document,
                              model_conf=model_conf or newest.model_conf, actor="db-edit"))
    session.execute(update(ChangeCounter).where(ChangeCounter.name == POLICY).values(value=version))
    session.commit()
    return version


def ask(app: Flask, key: str, model: str, capability: str = "generate") -> tuple[str, int | None]:
    """(allow, or the deny reason; the policy version answered with), after the runtime caught up."""
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question(model, capability)], request_id=None,
                               started=time.perf_counter())
    return ("allow" if outcome.allow else outcome.reason.value), outcome.policy_version


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    add_models(session)
    make_governed_model(session, "gov-model", group="standard", post="low")
    return {"verified": make_key(session, "acme", tier="verified"),
            "internal": make_key(session, "labs", tier="internal"),
            "free": make_key(session, "hobby", tier="free")}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_changes_still_apply_while_the_newest_version_cannot_be_built(
        app: Flask, client: FlaskClient, session: Session, keys: dict[str, str], broken: str) -> None:
    good = current_policy(session).version
    assert ask(app, keys["verified"], "chat-standard") == ("allow", good)  # cached as valid
    assert ask(app, keys["internal"], "gov-model") == ("allow", good)
    assert ask(app, keys["free"], "open-7b") == ("allow", good)
    edit, reason = BROKEN[broken]

    failed = store_directly(session, **edit)
    revoke_key(session, keys["verified"][:16], actor=ACTOR)
    suspend_model(session, actor=ACTOR, model=find_model(session, "gov-model"), reason="incident")
    update_org(session, "hobby", actor=ACTOR, suspended=True)

    assert ask(app, keys["verified"], "chat-standard") == ("key_revoked", good)
    assert ask(app, keys["internal"], "gov-model") == ("model_suspended", good)
    assert ask(app, keys["free"], "open-7b") == ("org_suspended", good)
    assert ask(app, keys["internal"], "frontier-1", "fine_tune") == ("allow", good)
    failure = {"version": failed, "reason": reason}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (
        200, {"status": "degraded", "policy_version": good, "policy_failure": failure})
    status = client.get("/v1/status").json
    assert (status["policy_version"], status["policy_failure"]) == (good, failure)


def test_an_allow_all_model_put_into_the_database_opens_nothing(
        app: Flask, session: Session, keys: dict[str, str]) -> None:
    good = current_policy(session).version
    assert ask(app, keys["free"], "frontier-1", "fine_tune") == ("tier_too_low", good)

    store_directly(session, model_conf=ALLOW_ALL)

    assert ask(app, keys["free"], "frontier-1", "fine_tune") == ("tier_too_low", good)


def test_a_process_starting_with_broken_newest_versions_answers_with_the_newest_that_builds(
        app: Flask, client: FlaskClient, session: Session, keys: dict[str, str]) -> None:
    good = current_policy(session).version
    store_directly(session, model_conf=FAILS_WHEN_EVALUATED)
    failed = store_directly(session, model_conf=ALLOW_ALL)  # the runtime has not started yet

    answer = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                         headers={"Authorization": f"Bearer {keys['verified']}"})

    assert answer.status_code == 200
    assert (answer.json["allow"], answer.json["policy_version"]) == (True, good)
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {
        "status": "degraded", "policy_version": good,
        "policy_failure": {"version": failed, "reason": ALLOW_ALL_REASON}})


def test_a_good_version_stored_after_a_broken_one_clears_the_failure(
        app: Flask, client: FlaskClient, session: Session, keys: dict[str, str]) -> None:
    ask(app, keys["verified"], "chat-standard")
    good = current_policy(session)
    store_directly(session, model_conf=ALLOW_ALL)
    app.extensions["govern.runtime"].get().refresh()
    assert client.get("/readyz").json["status"] == "degraded"

    # The way back: a whole good policy stored (edits on top of the broken version are refused).
    fixed = save_policy(session, parse_document(good.document), SHIPPED_MODEL, actor=ACTOR)

    assert ask(app, keys["verified"], "chat-standard") == ("allow", fixed)
    assert client.get("/readyz").json == {"status": "ready", "policy_version": fixed}
    assert client.get("/v1/status").json["policy_failure"] is None
