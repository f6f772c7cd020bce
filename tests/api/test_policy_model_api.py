"""The Casbin model is code, not a setting: `PUT /v1/admin/policy` accepts only a model whose SHA-256
is allowed (the shipped one, or one the host operator lists in GOVERN_ALLOWED_MODEL_SHA256), every
version is evaluated on every question before it is stored, and the audit event shows the model
before and after."""

from __future__ import annotations

from typing import Any

import pytest
from factories import SHIPPED_MODEL, add_models, casbin_model, make_key, sha256_hex
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from govern.models import AuditEvent

ALLOW_ALL = casbin_model("r.sub == r.sub")  # parses, and makes every caller allowed
FAILS_WHEN_EVALUATED = casbin_model("true")  # parses, and raises on every question
# The operator's own model: the shipped matcher, and nobody fine-tunes anything.
NO_FINE_TUNING = casbin_model(
    '(p.sub == "*" || g(r.sub, p.sub)) && (p.obj == "*" || r.obj == p.obj || g2(r.obj, p.obj)) '
    '&& (p.act == "*" || r.act == p.act) && r.act != "fine_tune"')


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The host operator allows two models besides the shipped one."""
    digests = [sha256_hex(NO_FINE_TUNING).upper(), sha256_hex(FAILS_WHEN_EVALUATED)]
    return {**env, "GOVERN_ALLOWED_MODEL_SHA256": f" {digests[0]} , {digests[1]}"}


def live(client: FlaskClient, admin: dict[str, str]) -> Any:
    return client.get("/v1/admin/policy", headers=admin).json


def put_model(client: FlaskClient, admin: dict[str, str], model_conf: str) -> Any:
    return client.put("/v1/admin/policy", headers=admin,
                      json={"document": live(client, admin)["document"], "model_conf": model_conf})


def event_count(session: Session) -> int:
    session.rollback()
    return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def last_event(session: Session) -> AuditEvent:
    session.rollback()
    return session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()


def check(client: FlaskClient, key: str, model: str, capability: str) -> Any:
    client.application.extensions["govern.runtime"].get().refresh()  # now, not at the next poll
    return client.post("/v1/check", json={"model": model, "capability": capability},
                       headers={"Authorization": f"Bearer {key}"}).json


def test_an_allow_all_model_is_refused_and_nothing_changes(client, session, admin):
    add_models(session)
    free = make_key(session, "acme", tier="free")
    before = (live(client, admin), event_count(session))

    response = put_model(client, admin, ALLOW_ALL)

    assert response.status_code == 422
    assert response.json["code"] == "model_not_allowed"
    assert response.json["message"] == (
        f"the Casbin model (SHA-256 {sha256_hex(ALLOW_ALL)}) is not allowed: govern accepts the "
        "shipped policies/model.conf and the models whose SHA-256 the host operator lists in "
        "GOVERN_ALLOWED_MODEL_SHA256")
    assert (live(client, admin), event_count(session)) == before
    assert check(client, free, "frontier-1", "fine_tune")["allow"] is False


def test_a_model_that_fails_when_evaluated_is_refused_even_when_allowed(client, session, admin):
    before = (live(client, admin), event_count(session))  # the seeded policy lists no model yet

    response = put_model(client, admin, FAILS_WHEN_EVALUATED)

    assert response.status_code == 422
    assert response.json["code"] == "policy_evaluation_failed"
    assert response.json["message"].startswith("the Casbin model fails when evaluated (tier free, ")
    assert "'true' is not defined" in response.json["message"]
    assert (live(client, admin), event_count(session)) == before


def test_a_model_the_operator_allows_is_stored_and_decides(client, session, admin):
    add_models(session)
    trusted = make_key(session, "acme", tier="trusted")
    assert check(client, trusted, "chat-standard", "fine_tune")["allow"] is True

    response = put_model(client, admin, NO_FINE_TUNING)

    assert response.status_code == 200, response.json
    assert live(client, admin)["model_conf"] == NO_FINE_TUNING
    assert check(client, trusted, "chat-standard", "fine_tune")["allow"] is False
    assert check(client, trusted, "chat-standard", "generate")["allow"] is True


def test_the_audit_event_of_a_model_change_shows_both_models(client, session, admin):
    document = live(client, admin)["document"]

    response = put_model(client, admin, NO_FINE_TUNING)

    event = last_event(session)
    assert (event.action, event.target) == ("policy.change", f"policy:{response.json['policy_version']}")
    assert event.before == {"document": document, "model_sha256": sha256_hex(SHIPPED_MODEL),
                            "model_conf": SHIPPED_MODEL}
    assert event.after == {"document": document, "model_sha256": sha256_hex(NO_FINE_TUNING),
                           "model_conf": NO_FINE_TUNING}


def test_the_audit_event_of_a_document_change_names_the_unchanged_model_by_hash(client, session, admin):
    document = live(client, admin)["document"]
    changed = {**document, "capabilities": [*document["capabilities"], "embed"]}

    response = client.put("/v1/admin/policy", headers=admin, json={"document": changed})

    assert response.status_code == 200
    event = last_event(session)
    assert event.before == {"document": document, "model_sha256": sha256_hex(SHIPPED_MODEL)}
    assert event.after == {"document": changed, "model_sha256": sha256_hex(SHIPPED_MODEL)}


def test_no_edit_carries_forward_a_model_put_into_the_database_directly(client, session, admin):
    # Someone with database access swaps the live model for an allow-all one.
    session.execute(text("UPDATE policy_version SET model_conf = :model "
                         "WHERE version = (SELECT max(version) FROM policy_version)"),
                    {"model": ALLOW_ALL})
    session.commit()
    before = event_count(session)

    response = client.post("/v1/admin/tiers", headers=admin, json={"name": "gold"})

    assert response.status_code == 422
    assert response.json["code"] == "model_not_allowed"
    assert event_count(session) == before
