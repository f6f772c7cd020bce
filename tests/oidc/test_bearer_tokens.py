"""Bearer JWTs from a real OpenID Connect provider on /v1/check: each claim rule gives its tier,
and each kind of bad token is a 401 with its own reason, logged with issuer and subject."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from factories import ACTOR, add_models
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.identity.issuers import create_issuer
from govern.models import Decision

AUDIENCE = "https://govern.test/api"
FRONTIER_GENERATE = {"model": "frontier-1", "capability": "generate"}  # trusted and above
STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}  # verified and above
FRONTIER_TOOLS = {"model": "frontier-1", "capability": "tools"}  # internal only
OPEN_GENERATE = {"model": "open-7b", "capability": "generate"}  # everyone


@pytest.fixture
def trusted(session: Session, issuer_doc: dict[str, Any]) -> None:
    """The test models in the policy and the test provider as a trusted issuer."""
    add_models(session)
    create_issuer(session, issuer_doc, actor=ACTOR)


def check(client: FlaskClient, token: str, question: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/check", json=question, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()


def last_decision(session: Session) -> Decision:
    session.expire_all()
    row = session.execute(select(Decision).order_by(Decision.decision_id.desc()).limit(1)).scalar()
    assert row is not None
    return row


def segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(provider: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": provider.issuer, "sub": "sara", "aud": AUDIENCE, "iat": now, "exp": now + 300,
            "groups": ["safety-researchers"], **overrides}


# -- one valid token per mapping rule ----------------------------------------------------------------
@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("kind", ["access_token", "id_token"])
def test_group_rule_maps_safety_researchers_to_trusted(client, session, oidc_provider, kind):
    token = oidc_provider.user_tokens("sara")[kind]

    status, body = check(client, token, FRONTIER_GENERATE)

    assert (status, body["allow"], body["tier"], body["reason"]) == (200, True, "trusted", "granted_by_tier")
    row = last_decision(session)
    assert (row.issuer, row.subject, row.key_prefix, row.tier, row.allow) == (
        oidc_provider.issuer, "sara", None, "trusted", True)


@pytest.mark.usefixtures("trusted")
def test_verified_email_in_the_domain_maps_to_verified(client, oidc_provider):
    token = oidc_provider.user_tokens("vera")["access_token"]

    assert check(client, token, STANDARD_GENERATE)[1]["allow"] is True
    status, body = check(client, token, FRONTIER_GENERATE)
    assert (status, body["allow"], body["tier"], body["reason"]) == (200, False, "verified", "tier_too_low")


@pytest.mark.usefixtures("trusted")
def test_unverified_email_gets_the_issuers_default_tier(client, oidc_provider):
    token = oidc_provider.user_tokens("ulrich")["access_token"]

    assert check(client, token, OPEN_GENERATE)[1]["allow"] is True
    status, body = check(client, token, STANDARD_GENERATE)
    assert (status, body["allow"], body["tier"], body["reason"]) == (200, False, "free", "tier_too_low")


@pytest.mark.usefixtures("trusted")
def test_client_credentials_token_matched_by_subject_maps_to_internal(client, session, oidc_provider):
    status, body = check(client, oidc_provider.client_credentials_token(), FRONTIER_TOOLS)

    assert (status, body["allow"], body["tier"]) == (200, True, "internal")
    assert last_decision(session).subject == "govern-tests"


@pytest.mark.usefixtures("trusted")
def test_batch_check_takes_a_bearer_token(client, oidc_provider):
    token = oidc_provider.user_tokens("vera")["access_token"]
    response = client.post("/v1/check/batch", headers={"Authorization": f"Bearer {token}"},
                           json={"checks": [STANDARD_GENERATE, FRONTIER_GENERATE]})

    assert [(r["allow"], r["tier"]) for r in response.get_json()["results"]] == [
        (True, "verified"), (False, "verified")]


# -- refusals ------------------------------------------------------------------------------------------
def assert_refused(client: FlaskClient, session: Session, token: str, reason: str) -> Decision:
    status, body = check(client, token, OPEN_GENERATE)
    assert (status, body["code"]) == (401, reason)
    row = last_decision(session)
    assert (row.reason, row.allow, row.decision_id) == (reason, False, body["decision_id"])
    return row


@pytest.mark.usefixtures("trusted")
def test_expired_token_is_refused_and_logged_with_its_subject(client, session, oidc_provider):
    now = int(time.time())
    token = oidc_provider.sign(claims(oidc_provider, iat=now - 900, exp=now - 120))

    row = assert_refused(client, session, token, "token_expired")
    assert (row.issuer, row.subject) == (oidc_provider.issuer, "sara")


@pytest.mark.usefixtures("trusted")
def test_token_expired_within_the_clock_skew_is_still_accepted(client, oidc_provider):
    token = oidc_provider.sign(claims(oidc_provider, exp=int(time.time()) - 10))

    assert check(client, token, FRONTIER_GENERATE)[1]["allow"] is True


@pytest.mark.usefixtures("trusted")
def test_accepted_token_is_refused_once_it_expires(client, session, oidc_provider):
    # 28 s past exp: inside the 30 s clock skew for about two more seconds.
    token = oidc_provider.sign(claims(oidc_provider, exp=int(time.time()) - 28))
    assert check(client, token, FRONTIER_GENERATE)[1]["allow"] is True

    deadline = time.monotonic() + 5.0  # bounds the wait; the skew ends within about 2 s
    status, body = check(client, token, FRONTIER_GENERATE)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = check(client, token, FRONTIER_GENERATE)
    assert (status, body["code"]) == (401, "token_expired")


@pytest.mark.usefixtures("trusted")
def test_token_not_valid_yet_is_refused(client, session, oidc_provider):
    token = oidc_provider.sign(claims(oidc_provider, nbf=int(time.time()) + 600))

    assert_refused(client, session, token, "token_not_yet_valid")


@pytest.mark.usefixtures("trusted")
def test_token_for_another_audience_is_refused(client, session, oidc_provider):
    token = oidc_provider.sign(claims(oidc_provider, aud="https://another-service.test/api"))

    assert_refused(client, session, token, "token_audience")


@pytest.mark.usefixtures("trusted")
def test_token_from_an_untrusted_issuer_is_refused(client, session, oidc_provider):
    token = oidc_provider.sign(claims(oidc_provider, iss="https://idp.elsewhere.test"))

    row = assert_refused(client, session, token, "token_issuer")
    assert (row.issuer, row.subject) == (None, None)


@pytest.mark.usefixtures("trusted")
def test_token_with_tampered_claims_fails_its_signature(client, session, oidc_provider):
    header, payload, signature = oidc_provider.user_tokens("vera")["access_token"].split(".")
    raised = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised["groups"] = ["safety-researchers"]

    row = assert_refused(client, session, f"{header}.{segment(raised)}.{signature}", "token_signature")
    assert (row.issuer, row.subject) == (oidc_provider.issuer, None)


@pytest.mark.usefixtures("trusted")
def test_token_with_alg_none_is_refused(client, session, oidc_provider):
    _, payload, _ = oidc_provider.user_tokens("sara")["access_token"].split(".")

    assert_refused(client, session, f"{segment({'alg': 'none', 'typ': 'JWT'})}.{payload}.", "token_algorithm")


@pytest.mark.usefixtures("trusted")
def test_token_signed_with_hmac_over_the_public_key_is_refused(client, session, oidc_provider):
    public_pem = oidc_provider.keys[0].as_pem(private=False)
    header = segment({"alg": "HS256", "kid": oidc_provider.keys[0].kid})
    signing_input = f"{header}.{segment(claims(oidc_provider))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert_refused(client, session, forged, "token_algorithm")


@pytest.mark.usefixtures("trusted")
def test_garbage_in_jwt_shape_is_malformed(client, session):
    assert_refused(client, session, "eyJub3QiOiJqc29u.bm90IGpzb24.c2ln", "token_malformed")


@pytest.mark.usefixtures("trusted")
def test_api_keys_still_work_beside_tokens(client):
    status, body = check(client, "gvk_000000000000_unknown", OPEN_GENERATE)

    assert (status, body["code"]) == (401, "key_unknown")


# -- key rotation at the provider -------------------------------------------------------------------
@pytest.mark.usefixtures("trusted")
def test_rotated_signing_key_is_picked_up_without_restart(app: Flask, client, session, oidc_provider):
    before = oidc_provider.user_tokens("sara")["access_token"]
    assert check(client, before, FRONTIER_GENERATE)[1]["allow"] is True
    keys = app.extensions["govern.runtime"].get().tokens.keys_of(oidc_provider.issuer)
    fetched = keys.fetches

    new_kid = oidc_provider.rotate()
    after = oidc_provider.user_tokens("sara")["access_token"]
    assert json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"] == new_kid

    status, body = check(client, after, FRONTIER_GENERATE)
    assert (status, body["allow"], body["tier"]) == (200, True, "trusted")
    assert keys.fetches == fetched + 1
    # Tokens naming keys the provider never had do not make govern ask it again (cooldown).
    for number in range(5):
        made_up = oidc_provider.sign(claims(oidc_provider), kid=f"made-up-{number}")
        assert check(client, made_up, OPEN_GENERATE)[1]["code"] == "token_key_unknown"
    assert keys.fetches == fetched + 1
