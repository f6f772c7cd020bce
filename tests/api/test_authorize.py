"""Forward-auth /v1/authorize: each gateway's way of asking, and each answer a gateway acts on."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from factories import ACTOR, add_models, make_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern import create_app
from govern.errors import ConfigError
from govern.identity.keys import revoke_key
from govern.models import Decision
from govern.policy.store import change_policy

WWW_AUTHENTICATE = 'Bearer realm="govern"'
DECISION_ID = re.compile(r"[0-9a-f]{26}")


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    """tier -> key of an organisation in that tier, with the test models in the policy."""
    add_models(session)
    return {tier: make_key(session, f"{tier}-org", tier=tier) for tier in ("free", "trusted", "internal")}


def nginx(key: str | None, method: str, uri: str) -> dict[str, str]:
    headers = {"X-Original-Method": method, "X-Original-URI": uri}
    return {**headers, "Authorization": f"Bearer {key}"} if key else headers


def traefik(key: str | None, method: str, uri: str) -> dict[str, str]:
    headers = {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Host": "api.example"}
    return {**headers, "X-API-Key": key} if key else headers


def decision(session: Session, decision_id: str) -> Decision:
    return session.execute(select(Decision).where(Decision.decision_id == decision_id)).scalar_one()


# -- allowed ---------------------------------------------------------------------------------------
def test_nginx_style_allow_carries_tier_org_and_decision_for_the_upstream(client, session, keys):
    response = client.get("/v1/authorize", headers=nginx(
        keys["trusted"], "POST", "/openai/deployments/frontier-1/chat/completions?api-version=1"))

    assert response.status_code == 200
    assert response.headers["X-Govern-Tier"] == "trusted"
    assert response.headers["X-Govern-Org"] == "trusted-org"
    assert DECISION_ID.fullmatch(response.headers["X-Govern-Decision-Id"])
    row = decision(session, response.headers["X-Govern-Decision-Id"])
    assert (row.allow, row.model, row.capability, row.reason) == (True, "frontier-1", "generate",
                                                                  "granted_by_tier")


def test_organisation_name_outside_printable_ascii_is_percent_encoded(client, session, keys):
    key = make_key(session, "Café 100%\nZürich", tier="free")
    headers = nginx(key, "POST", "/openai/deployments/open-7b/completions")
    response = client.get("/v1/authorize", headers=headers)

    assert response.status_code == 200
    assert response.headers["X-Govern-Org"] == "Caf%C3%A9 100%25%0AZ%C3%BCrich"


def test_traefik_style_get_with_forwarded_method_and_uri(client, keys):
    response = client.get("/v1/authorize", headers=traefik(
        keys["free"], "POST", "/openai/deployments/open-7b/completions"))

    assert response.status_code == 200
    assert response.headers["X-Govern-Tier"] == "free"


def test_envoy_style_original_path_and_body(client, session, keys):
    response = client.post("/v1/authorize/v1/fine_tuning/jobs", json={"model": "open-7b"},
                           headers={"Authorization": f"Bearer {keys['trusted']}"})

    assert response.status_code == 200
    row = decision(session, response.headers["X-Govern-Decision-Id"])
    assert (row.model, row.capability) == ("open-7b", "fine_tune")


def test_explicit_headers_name_model_and_capability(client, keys):
    response = client.get("/v1/authorize", headers={
        "X-API-Key": keys["internal"], "X-Govern-Model": "research-preview", "X-Govern-Capability": "tools"})

    assert response.status_code == 200
    assert response.headers["X-Govern-Tier"] == "internal"


# -- denied ----------------------------------------------------------------------------------------
def test_tier_too_low_is_403_with_the_reason_and_no_upstream_headers(client, session, keys):
    response = client.get("/v1/authorize", headers=nginx(
        keys["free"], "POST", "/openai/deployments/frontier-1/chat/completions"))

    assert response.status_code == 403
    assert response.headers["X-Govern-Reason"] == "tier_too_low"
    assert "X-Govern-Tier" not in response.headers
    assert response.json["code"] == "tier_too_low"
    assert decision(session, response.json["decision_id"]).reason == "tier_too_low"


def test_envoy_style_denied_body_model(client, keys):
    response = client.post("/v1/authorize/v1/chat/completions", json={"model": "research-preview"},
                           headers={"Authorization": f"Bearer {keys['trusted']}"})

    assert response.status_code == 403
    assert response.headers["X-Govern-Reason"] == "tier_too_low"


def test_unrouted_request_is_403_no_route(client, keys):
    response = client.get("/v1/authorize", headers=traefik(keys["internal"], "GET", "/admin/secrets"))

    assert response.status_code == 403
    assert response.headers["X-Govern-Reason"] == "no_route"
    assert response.json["code"] == "no_route"


def test_envoy_preflight_is_decided_by_govern_not_answered_by_flask(client, keys):
    response = client.options("/v1/authorize/v1/chat/completions",
                              headers={"Authorization": f"Bearer {keys['internal']}"})

    assert response.status_code == 403
    assert response.headers["X-Govern-Reason"] == "no_route"


def test_body_route_behind_nginx_without_the_model_is_403_model_missing(client, keys):
    response = client.get("/v1/authorize", headers=nginx(keys["internal"], "POST", "/v1/chat/completions"))

    assert response.status_code == 403
    assert response.headers["X-Govern-Reason"] == "model_missing"


# -- credentials -----------------------------------------------------------------------------------
@pytest.mark.parametrize("style", [nginx, traefik])
def test_no_key_is_401_with_www_authenticate(client, session, keys, style):
    headers = style(None, "POST", "/openai/deployments/open-7b/completions")
    response = client.get("/v1/authorize", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert response.headers["X-Govern-Reason"] == "key_missing"
    assert decision(session, response.json["decision_id"]).reason == "key_missing"


def test_revoked_key_is_401(client, session, keys):
    revoke_key(session, actor=ACTOR, prefix=keys["trusted"][:16])
    response = client.post("/v1/authorize/openai/deployments/open-7b/completions",
                           headers={"Authorization": f"Bearer {keys['trusted']}"})

    assert response.status_code == 401
    assert response.headers["X-Govern-Reason"] == "key_revoked"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_made_up_key_is_401(client, keys):
    response = client.get("/v1/authorize", headers={
        "Authorization": "Bearer gvk_000000000000_nope", "X-Govern-Model": "open-7b",
        "X-Govern-Capability": "generate"})

    assert response.status_code == 401
    assert response.headers["X-Govern-Reason"] == "key_unknown"


# -- rate limited ----------------------------------------------------------------------------------
@pytest.fixture
def limited(session: Session, keys: dict[str, str]) -> str:
    """The free key, in a policy that allows the free tier one decision a minute."""
    change_policy(session, lambda raw: raw.update(rate_limits={"free": {"per_minute": 1}}), actor=ACTOR,
                  comment="one a minute")
    return keys["free"]


def test_rate_limited_is_429_with_retry_after(client, session, limited):
    headers = traefik(limited, "POST", "/openai/deployments/open-7b/completions")
    first, second = (client.get("/v1/authorize", headers=headers) for _ in range(2))

    assert first.status_code == 200
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    assert second.headers["X-Govern-Reason"] == "rate_limited"
    assert decision(session, second.json["decision_id"]).reason == "rate_limited"


def test_answers_carry_the_ietf_ratelimit_fields(client, session, keys):
    change_policy(session, lambda raw: raw.update(rate_limits={
        "free": {"per_minute": 2, "per_day": 100, "organisation": {"per_minute": 5}}}),
        actor=ACTOR, comment="limits")
    headers = traefik(keys["free"], "POST", "/openai/deployments/open-7b/completions")
    answers = [client.get("/v1/authorize", headers=headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    policy = '"key-minute";q=2;w=60, "organisation-minute";q=5;w=60, "key-day";q=100;w=86400'
    assert {a.headers["RateLimit-Policy"] for a in answers} == {policy}
    remaining = [re.fullmatch(r'"key-minute";r=(\d+);t=(\d+)', a.headers["RateLimit"]) for a in answers]
    assert [int(m.group(1)) for m in remaining if m] == [1, 0, 0]
    assert all(1 <= int(m.group(2)) <= 60 for m in remaining if m)


def test_no_limit_no_ratelimit_fields(client, keys):
    headers = traefik(keys["free"], "POST", "/openai/deployments/open-7b/completions")
    answer = client.get("/v1/authorize", headers=headers)
    assert answer.status_code == 200
    assert "RateLimit" not in answer.headers and "RateLimit-Policy" not in answer.headers


def test_rate_limited_behind_nginx_is_403_with_the_reason_and_retry_after(client, limited):
    headers = nginx(limited, "POST", "/openai/deployments/open-7b/completions")
    first, second = (client.get("/v1/authorize", headers=headers) for _ in range(2))

    assert first.status_code == 200
    assert second.status_code == 403
    assert second.headers["X-Govern-Reason"] == "rate_limited"
    assert 1 <= int(second.headers["Retry-After"]) <= 60


# -- configuration and failures ------------------------------------------------------------------
def test_own_route_rules_replace_the_shipped_ones(app_with, keys, tmp_path: Path):
    rules = tmp_path / "routes.yaml"
    rules.write_text("routes:\n  - {method: POST, path: '/models/{model}/tune', capability: fine_tune}\n")
    client = app_with(GOVERN_ROUTES_FILE=str(rules)).test_client()

    own = client.get("/v1/authorize", headers=traefik(keys["trusted"], "POST", "/models/open-7b/tune"))
    shipped = client.get("/v1/authorize", headers=traefik(
        keys["trusted"], "POST", "/openai/deployments/open-7b/completions"))

    assert own.status_code == 200
    assert (shipped.status_code, shipped.headers["X-Govern-Reason"]) == (403, "no_route")


def test_faulty_route_rules_stop_the_start(env, tmp_path: Path):
    rules = tmp_path / "routes.yaml"
    rules.write_text("routes:\n  - {path: /v1/chat/completions, capability: generate}\n")
    with pytest.raises(ConfigError, match="say where the model is"):
        create_app({**env, "GOVERN_ROUTES_FILE": str(rules)})


def test_unreachable_rate_limit_counters_fail_closed_with_503(app_with, session, keys):
    change_policy(session, lambda raw: raw.update(rate_limits={"free": {"per_minute": 100}}), actor=ACTOR,
                  comment="limits")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = app_with(GOVERN_RATELIMIT_STORAGE=f"redis://127.0.0.1:{port}?socket_connect_timeout=0.5")\
        .test_client()

    response = client.get("/v1/authorize", headers=traefik(
        keys["free"], "POST", "/openai/deployments/open-7b/completions"))

    assert response.status_code == 503
    assert response.json["code"] == "rate_limit_unavailable"
    assert "X-Govern-Tier" not in response.headers


def test_request_id_is_echoed_and_stored(client, session, keys):
    headers = {**traefik(keys["free"], "POST", "/openai/deployments/open-7b/completions"),
               "X-Request-ID": "req-gw-1"}
    response = client.get("/v1/authorize", headers=headers)

    assert response.headers["X-Request-ID"] == "req-gw-1"
    assert decision(session, response.headers["X-Govern-Decision-Id"]).request_id == "req-gw-1"
