"""POST /v1/admin/policy/diff and /v1/admin/policy/impact: a draft compared with the live policy and
replayed over the decision log; neither stores anything."""

from __future__ import annotations

from typing import Any

from factories import add_models, log_decision, make_user_key
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from govern.policy.store import current_policy


def draft_without_verified_standard_generate(session: Session) -> dict[str, Any]:
    document = dict(current_policy(session).document)
    removed = ("verified", "standard", "generate")
    document["grants"] = [g for g in document["grants"]
                          if (g["tier"], g["target"], g["capability"]) != removed]
    return document


def test_diff_lists_the_removed_grant(client: FlaskClient, session: Session, admin: dict[str, str]) -> None:
    add_models(session)
    version = current_policy(session).version
    body = client.post("/v1/admin/policy/diff", headers=admin,
                       json={"document": draft_without_verified_standard_generate(session)}).json
    assert body["policy_version"] == version
    assert body["diff"]["empty"] is False
    assert body["diff"]["grants"] == {"added": [], "removed": [
        {"tier": "verified", "target": "standard", "capability": "generate", "effect": "allow"}]}
    session.rollback()
    assert current_policy(session).version == version


def test_impact_counts_flips_by_org(client: FlaskClient, session: Session, admin: dict[str, str]) -> None:
    add_models(session)
    for _ in range(3):
        log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                     allow=True, reason="granted_by_tier")
    session.commit()
    body = client.post("/v1/admin/policy/impact", headers=admin,
                       json={"document": draft_without_verified_standard_generate(session), "days": 7}).json
    assert body["days"] == 7
    assert body["allow_to_deny"]["total"] == 3
    assert [(b["name"], b["count"]) for b in body["allow_to_deny"]["by_org"]] == [("acme", 3)]
    assert body["deny_to_allow"]["total"] == 0


def test_an_invalid_draft_is_a_problem(client: FlaskClient, session: Session, admin: dict[str, str]) -> None:
    document = dict(current_policy(session).document)
    document["grants"] = [*document["grants"], {"tier": "nobody", "target": "open", "capability": "generate"}]
    response = client.post("/v1/admin/policy/diff", headers=admin, json={"document": document})
    assert response.status_code == 422
    assert response.json["code"] == "unknown_tier"


def test_days_out_of_range_is_a_problem(client: FlaskClient, session: Session, admin: dict[str, str]) -> None:
    response = client.post("/v1/admin/policy/impact", headers=admin,
                           json={"document": current_policy(session).document, "days": 0})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_days"


def test_an_auditor_may_not_preview(client: FlaskClient, session: Session, auditor: dict[str, str]) -> None:
    # Every POST of the admin API is a change to an auditor's eyes (tests/admin/test_auditor_read_only.py).
    for path in ("/v1/admin/policy/diff", "/v1/admin/policy/impact"):
        response = client.post(path, headers=auditor, json={"document": current_policy(session).document})
        assert response.status_code == 403, path


def test_a_user_without_the_admin_role_is_refused(client: FlaskClient, session: Session) -> None:
    key = make_user_key(session, "rita", roles=frozenset({"reviewer"}))
    for path in ("/v1/admin/policy/diff", "/v1/admin/policy/impact"):
        response = client.post(path, headers={"Authorization": f"Bearer {key}"},
                               json={"document": current_policy(session).document})
        assert response.status_code == 403, path
