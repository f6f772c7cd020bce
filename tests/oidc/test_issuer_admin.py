"""Managing trusted issuers and their claim rules: admin API, config file, versions, audit, and
every change reaching the decision path without a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import add_models, make_user_key
from sqlalchemy import select

from govern.models import AuditEvent
from govern.yaml_input import dump_yaml

STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}
FRONTIER_GENERATE = {"model": "frontier-1", "capability": "generate"}


@pytest.fixture
def admin(session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_user_key(session, 'alice', frozenset({'admin'}))}"}


def ask(client, token: str, question: dict[str, str]) -> dict[str, Any]:
    answer: dict[str, Any] = client.post("/v1/check", json=question,
                                         headers={"Authorization": f"Bearer {token}"}).get_json()
    return answer


def ask_once_trusted(client, token: str, question: dict[str, str]) -> dict[str, Any]:
    """`ask`, after the runtime has picked up a newly added issuer (it polls every 0.05 s in tests;
    until then the token's issuer is unknown). Bounded to 2 s."""
    deadline = time.monotonic() + 2.0
    answer = ask(client, token, question)
    while answer.get("code") == "token_issuer" and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask(client, token, question)
    return answer


def test_issuer_added_by_api_is_listed_with_a_new_version_and_audited(client, session, admin, issuer_doc):
    created = client.post("/v1/admin/issuers", json=issuer_doc, headers=admin)

    assert created.status_code == 201
    assert created.get_json()["version"] == 1
    listing = client.get("/v1/admin/issuers", headers=admin).get_json()
    assert listing["version"] == 1
    assert [(i["name"], i["default_tier"], len(i["rules"])) for i in listing["issuers"]] == [
        ("testidp", "free", 3)]
    event = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert (event.actor, event.action, event.target) == ("user:alice", "issuer.create", "issuer:testidp")


def test_changed_rules_reach_the_decision_path_without_restart(client, session, admin, issuer_doc,
                                                                oidc_provider):
    add_models(session)
    client.post("/v1/admin/issuers", json=issuer_doc, headers=admin)
    token = oidc_provider.user_tokens("vera")["access_token"]
    assert ask_once_trusted(client, token, FRONTIER_GENERATE)["tier"] == "verified"

    changed = client.put("/v1/admin/issuers/testidp/rules", headers=admin,
                         json={"rules": [{"email_domain": "example.org", "tier": "trusted"}]})
    assert changed.status_code == 200
    assert changed.get_json()["version"] == 2

    deadline = time.monotonic() + 2.0  # the runtime polls every 0.05 s in tests; this only bounds the wait
    answer = ask(client, token, FRONTIER_GENERATE)
    while answer["tier"] != "trusted" and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask(client, token, FRONTIER_GENERATE)
    assert (answer["allow"], answer["tier"]) == (True, "trusted")


def test_deleted_issuer_is_no_longer_trusted(client, session, admin, issuer_doc, oidc_provider):
    add_models(session)
    client.post("/v1/admin/issuers", json=issuer_doc, headers=admin)
    token = oidc_provider.user_tokens("vera")["access_token"]
    assert ask_once_trusted(client, token, STANDARD_GENERATE)["allow"] is True

    assert client.delete("/v1/admin/issuers/testidp", headers=admin).status_code == 204

    deadline = time.monotonic() + 2.0
    answer = ask(client, token, STANDARD_GENERATE)
    while answer.get("code") != "token_issuer" and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = ask(client, token, STANDARD_GENERATE)
    assert answer["code"] == "token_issuer"


@pytest.mark.parametrize(("change", "code"), [
    ({"algorithms": ["HS256"]}, "invalid_algorithm"),
    ({"algorithms": ["none"]}, "invalid_algorithm"),
    ({"default_tier": "platinum"}, "unknown_tier"),
    ({"rules": [{"claim": "groups", "contains": "x", "equals": "y", "tier": "trusted"}]}, "invalid_rule"),
    ({"client_secret": "s3cret"}, "invalid_issuer"),
    ({"sso": {"client_id": "c", "client_secret_env": "not an env name", "roles": {}}}, "invalid_issuer"),
    ({"sso": {"client_id": "c", "client_secret_env": "GOVERN_SSO_SECRET", "roles": {"g": ["root"]}}},
     "unknown_role"),
])
def test_invalid_issuer_is_refused_whole(client, session, admin, issuer_doc, change, code):
    response = client.post("/v1/admin/issuers", json={**issuer_doc, **change}, headers=admin)

    assert (response.status_code, response.get_json()["code"]) == (400, code)
    assert client.get("/v1/admin/issuers", headers=admin).get_json() == {"version": 0, "issuers": []}


def test_auditor_may_read_issuers_but_not_change_them(client, session, issuer_doc):
    auditor = {"Authorization": f"Bearer {make_user_key(session, 'audrey', frozenset({'auditor'}))}"}

    assert client.get("/v1/admin/issuers", headers=auditor).status_code == 200
    assert client.post("/v1/admin/issuers", json=issuer_doc, headers=auditor).status_code == 403


def test_config_file_imports_and_exports_the_issuers(govern, tmp_path: Path, issuer_doc, session):
    config = tmp_path / "issuers.yaml"
    config.write_text(dump_yaml({"issuers": [issuer_doc]}))

    imported = govern("issuers", "import", str(config))
    assert imported.exit_code == 0, imported.output
    assert imported.output.strip() == "issuer configuration version 1 is live"

    exported = tmp_path / "exported.yaml"
    assert govern("issuers", "export", str(exported)).exit_code == 0
    written = yaml.safe_load(exported.read_text())["issuers"]
    assert [(i["name"], i["issuer"], i["rules"][0]) for i in written] == [
        ("testidp", issuer_doc["issuer"], {"claim": "groups", "contains": "safety-researchers",
                                           "tier": "trusted"})]


def test_config_file_with_a_bad_entry_changes_nothing(govern, tmp_path: Path, issuer_doc):
    config = tmp_path / "issuers.yaml"
    config.write_text(dump_yaml({"issuers": [issuer_doc, {**issuer_doc, "name": "other",
                                                              "default_tier": "gold"}]}))

    result = govern("issuers", "import", str(config))

    assert result.exit_code == 1
    assert "issuers[1]: default_tier 'gold' is not a tier of the policy" in result.output
    assert "version 0" in govern("issuers", "list").output


def test_decision_log_filters_by_subject(client, session, admin, issuer_doc, oidc_provider):
    add_models(session)
    client.post("/v1/admin/issuers", json=issuer_doc, headers=admin)
    ask_once_trusted(client, oidc_provider.user_tokens("sara")["access_token"], FRONTIER_GENERATE)
    ask(client, oidc_provider.user_tokens("vera")["access_token"], FRONTIER_GENERATE)

    rows = client.get("/v1/decisions?subject=sara", headers=admin).get_json()["decisions"]

    assert [(r["issuer"], r["subject"], r["tier"], r["allow"]) for r in rows] == [
        (oidc_provider.issuer, "sara", "trusted", True)]
