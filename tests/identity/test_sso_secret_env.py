"""An issuer's `sso.client_secret_env` may only name a variable under GOVERN_SSO_: a document must
never make the sign-in send one of govern's own secrets (GOVERN_SECRET_KEY, the database URL, the
signing key) or any other variable of the process to a token endpoint its author chose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import make_user_key
from sqlalchemy import func, select

from govern.errors import InvalidInput
from govern.identity.issuers import create_issuer, import_issuers, replace_issuer
from govern.models import IdentityIssuer

ACTOR = "test"
REFUSED_NAMES = ["GOVERN_SECRET_KEY", "GOVERN_DATABASE_URL", "GOVERN_SIGNING_KEY", "CORP_SECRET", "PATH",
                 "GOVERN_SSO_", "GOVERN_SSOCORP", "SSO_GOVERN_SSO_X"]


def document(secret_env: str, name: str = "corp") -> dict[str, Any]:
    return {"name": name, "issuer": f"https://login.{name}.example", "audiences": ["https://govern.example"],
            "default_tier": "free",
            "sso": {"client_id": "govern", "client_secret_env": secret_env,
                    "roles": {"auditors": ["auditor"]}}}


def stored(session) -> int:  # type: ignore[no-untyped-def]
    return int(session.execute(select(func.count()).select_from(IdentityIssuer)).scalar_one())


@pytest.fixture
def admin(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_user_key(session, 'alice', frozenset({'admin'}))}"}


@pytest.mark.parametrize("secret_env", REFUSED_NAMES)
def test_admin_api_refuses_a_secret_variable_outside_the_sso_prefix(client, session, admin, secret_env):
    response = client.post("/v1/admin/issuers", json=document(secret_env), headers=admin)

    assert (response.status_code, response.json["code"]) == (400, "invalid_secret_env")
    assert "GOVERN_SSO_" in response.json["message"]
    assert stored(session) == 0


def test_a_variable_under_the_sso_prefix_is_accepted(client, session, admin):
    response = client.post("/v1/admin/issuers", json=document("GOVERN_SSO_CORP_SECRET"), headers=admin)

    assert response.status_code == 201
    assert client.get("/v1/admin/issuers/corp", headers=admin).json["sso"]["client_secret_env"] == (
        "GOVERN_SSO_CORP_SECRET")


def test_replacing_an_issuer_cannot_switch_to_govern_s_own_secret(client, session, admin):
    assert client.post("/v1/admin/issuers", json=document("GOVERN_SSO_CORP_SECRET"), headers=admin
                       ).status_code == 201

    response = client.put("/v1/admin/issuers/corp", json=document("GOVERN_SECRET_KEY"), headers=admin)

    assert (response.status_code, response.json["code"]) == (400, "invalid_secret_env")
    assert client.get("/v1/admin/issuers/corp", headers=admin).json["sso"]["client_secret_env"] == (
        "GOVERN_SSO_CORP_SECRET")


def test_the_services_refuse_it_for_every_entry_point(session):
    with pytest.raises(InvalidInput) as created:
        create_issuer(session, document("GOVERN_SECRET_KEY"), actor=ACTOR)
    assert created.value.code == "invalid_secret_env"
    create_issuer(session, document("GOVERN_SSO_CORP_SECRET"), actor=ACTOR)
    with pytest.raises(InvalidInput):
        replace_issuer(session, "corp", document("GOVERN_SIGNING_KEY"), actor=ACTOR)
    with pytest.raises(InvalidInput):
        import_issuers(session, [document("GOVERN_SSO_OK"), document("GOVERN_DATABASE_URL", "other")],
                       actor=ACTOR)
    session.rollback()
    rows = session.execute(select(IdentityIssuer)).scalars()
    assert [row.config["sso"]["client_secret_env"] for row in rows] == ["GOVERN_SSO_CORP_SECRET"]


def test_cli_import_refuses_it_with_one_line_and_stores_nothing(govern, session, tmp_path: Path):
    config = tmp_path / "issuers.yaml"
    config.write_text(yaml.safe_dump({"issuers": [document("GOVERN_SECRET_KEY")]}))

    result = govern("issuers", "import", str(config))

    assert result.exit_code != 0
    assert "GOVERN_SSO_" in result.output and "Traceback" not in result.output
    assert stored(session) == 0


def test_sign_in_refuses_a_document_stored_before_the_rule(client, session, monkeypatch):
    # A row written before the rule existed (or edited in the database) names govern's own secret.
    monkeypatch.setenv("GOVERN_SECRET_KEY", "the-session-signing-secret-" + "z" * 20)
    session.add(IdentityIssuer(name="legacy", issuer="http://127.0.0.1:9/legacy",
                               config=document("GOVERN_SECRET_KEY", "legacy")
                               | {"name": "legacy", "issuer": "http://127.0.0.1:9/legacy"}))
    session.commit()

    response = client.get("/login/sso/legacy")

    assert response.status_code == 503
    assert "not configured" in response.get_data(as_text=True)
    assert "Location" not in response.headers
