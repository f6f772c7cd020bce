"""/v1/authorize reads the original request only from the headers the configured gateway kind sets
(GOVERN_GATEWAY_KIND), and refuses a request reported twice, differently: a client behind a
gateway that passes its headers on cannot be judged on one request while it makes another."""

from __future__ import annotations

import pytest
from factories import ACTOR, add_models, make_key
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern import create_app
from govern.errors import ConfigError
from govern.models import Decision
from govern.policy.store import change_policy

PERMITTED = "/openai/deployments/open-7b/completions"  # free may generate with open-7b
DENIED = "/openai/deployments/frontier-1/completions"  # free may not use frontier-1


@pytest.fixture
def free_key(session: Session) -> str:
    add_models(session)
    return make_key(session, "free-org", tier="free")


def nginx_headers(method: str, uri: str) -> dict[str, str]:
    return {"X-Original-Method": method, "X-Original-URI": uri}


def traefik_headers(method: str, uri: str) -> dict[str, str]:
    return {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Host": "api.example"}


def decisions(session: Session) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(Decision)).scalar_one())


def test_a_permitted_x_original_uri_beside_the_real_forwarded_uri_is_refused(client, session, free_key):
    # Behind a default Traefik: the client adds X-Original-URI; Traefik sets X-Forwarded-Uri.
    headers = {"Authorization": f"Bearer {free_key}", **nginx_headers("POST", PERMITTED),
               **traefik_headers("POST", DENIED)}

    response = client.get("/v1/authorize", headers=headers)

    assert (response.status_code, response.json["code"]) == (400, "conflicting_original_request")
    assert response.mimetype == "application/problem+json"
    assert response.headers["X-Govern-Reason"] == "conflicting_original_request"
    assert "X-Govern-Tier" not in response.headers
    assert decisions(session) == 0


def test_a_path_beside_a_disagreeing_header_is_refused(client, free_key):
    response = client.post(f"/v1/authorize{DENIED}", headers={
        "Authorization": f"Bearer {free_key}", **nginx_headers("POST", PERMITTED)})

    assert (response.status_code, response.json["code"]) == (400, "conflicting_original_request")


def test_reports_that_agree_are_answered(client, free_key):
    headers = {"Authorization": f"Bearer {free_key}", **nginx_headers("POST", PERMITTED),
               **traefik_headers("POST", PERMITTED)}
    conflicting = {**headers, "X-Forwarded-Method": "GET"}

    assert client.get("/v1/authorize", headers=headers).status_code == 200
    assert client.get("/v1/authorize", headers=conflicting).status_code == 400


@pytest.mark.parametrize("kind", ["traefik", "caddy", "nginx", "envoy"])
def test_a_configured_kind_refuses_a_disagreeing_report_of_another_kind(app_with, free_key, kind):
    client = app_with(GOVERN_GATEWAY_KIND=kind).test_client()
    own = {"traefik": traefik_headers("POST", DENIED), "caddy": traefik_headers("POST", DENIED),
           "nginx": nginx_headers("POST", DENIED), "envoy": {}}
    other = nginx_headers("POST", PERMITTED) if kind != "nginx" else traefik_headers("POST", PERMITTED)
    path = DENIED if kind == "envoy" else ""

    response = client.post(f"/v1/authorize{path}", headers={
        "Authorization": f"Bearer {free_key}", **own[kind], **other})

    assert (response.status_code, response.json["code"]) == (400, "conflicting_original_request")


@pytest.mark.parametrize("kind", ["traefik", "caddy"])
def test_behind_traefik_or_caddy_a_client_s_x_original_uri_alone_is_not_read(app_with, free_key, kind):
    # Caddy's forward_auth reports the original request as Traefik's ForwardAuth does.
    client = app_with(GOVERN_GATEWAY_KIND=kind).test_client()
    key = {"Authorization": f"Bearer {free_key}"}

    smuggled = client.get("/v1/authorize", headers={**key, **nginx_headers("POST", PERMITTED)})
    reported = client.get("/v1/authorize", headers={**key, **traefik_headers("POST", PERMITTED)})
    denied = client.get("/v1/authorize", headers={**key, **traefik_headers("POST", DENIED)})

    assert (smuggled.status_code, smuggled.headers["X-Govern-Reason"]) == (403, "no_route")
    assert reported.status_code == 200
    assert (denied.status_code, denied.headers["X-Govern-Reason"]) == (403, "tier_too_low")


def test_behind_caddy_a_rate_limit_is_a_429_with_retry_after(app_with, session, free_key):
    # Caddy hands the client any answer but a 2xx as it is: no 403 stand-in as for nginx.
    change_policy(session, lambda raw: raw.update(rate_limits={"free": {"per_minute": 1}}),
                  actor=ACTOR, comment="one a minute")
    client = app_with(GOVERN_GATEWAY_KIND="caddy").test_client()
    headers = {"Authorization": f"Bearer {free_key}", **traefik_headers("POST", PERMITTED)}

    first, second = (client.get("/v1/authorize", headers=headers) for _ in range(2))

    assert first.status_code == 200
    assert (second.status_code, second.headers["X-Govern-Reason"]) == (429, "rate_limited")
    assert 1 <= int(second.headers["Retry-After"]) <= 60


def test_behind_nginx_a_client_s_x_forwarded_uri_alone_is_not_read(app_with, free_key):
    client = app_with(GOVERN_GATEWAY_KIND="nginx").test_client()
    key = {"Authorization": f"Bearer {free_key}"}

    smuggled = client.get("/v1/authorize", headers={**key, **traefik_headers("POST", PERMITTED)})
    reported = client.get("/v1/authorize", headers={**key, **nginx_headers("POST", PERMITTED)})

    assert (smuggled.status_code, smuggled.headers["X-Govern-Reason"]) == (403, "no_route")
    assert reported.status_code == 200


def test_behind_envoy_only_the_path_is_read(app_with, free_key):
    client = app_with(GOVERN_GATEWAY_KIND="envoy").test_client()
    key = {"Authorization": f"Bearer {free_key}"}

    smuggled = client.get("/v1/authorize", headers={**key, **nginx_headers("POST", PERMITTED),
                                                    **traefik_headers("POST", PERMITTED)})
    reported = client.post(f"/v1/authorize{PERMITTED}", headers=key)
    denied = client.post(f"/v1/authorize{DENIED}", headers=key)

    assert (smuggled.status_code, smuggled.headers["X-Govern-Reason"]) == (403, "no_route")
    assert reported.status_code == 200
    assert (denied.status_code, denied.headers["X-Govern-Reason"]) == (403, "tier_too_low")


def test_an_unknown_gateway_kind_stops_the_start(env):
    with pytest.raises(ConfigError,
                       match="GOVERN_GATEWAY_KIND must be one of any, nginx, traefik, caddy, envoy"):
        create_app({**env, "GOVERN_GATEWAY_KIND": "haproxy"})
