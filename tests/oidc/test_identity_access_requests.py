"""An identity (a bearer token from a trusted issuer) asks for access with its own token: the
grant is the identity's, not its issuer's, and another identity of the same issuer stays denied."""

from __future__ import annotations

import time
from typing import Any

from factories import ACTOR, add_models, make_user_key
from flask.testing import FlaskClient

from govern.identity.issuers import create_issuer

FRONTIER_GENERATE = {"model": "frontier-1", "capability": "generate"}  # trusted and above


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def check(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.post("/v1/check", json=FRONTIER_GENERATE, headers=bearer(token))
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def test_an_identity_asks_with_its_token_and_only_it_is_granted(client, session, oidc_provider, issuer_doc):
    add_models(session)
    # Ulrich (no rule matches) gets the default tier: verified, as Vera is by her e-mail domain.
    create_issuer(session, {**issuer_doc, "default_tier": "verified"}, actor=ACTOR)
    alice, bob = (bearer(make_user_key(session, name)) for name in ("alice", "bob"))
    vera = oidc_provider.user_tokens("vera")["access_token"]
    other = oidc_provider.user_tokens("ulrich")["access_token"]
    assert check(client, other)["tier"] == "verified"
    denied = check(client, vera)
    assert denied["access_request"]["would_allow"] == {"tier": "trusted"}

    made = client.post("/v1/access-requests", headers=bearer(vera), json={
        "kind": "capability", "decision_id": denied["decision_id"], "justification": "red-teaming",
        "duration_seconds": 600})
    assert made.status_code == 201
    request = made.json
    assert (request["org_id"], request["issuer"], request["subject"], request["requested_by"]) == (
        None, oidc_provider.issuer, "vera", f"identity:{oidc_provider.issuer} vera")
    assert client.get(f"/v1/access-requests/{request['id']}", headers=bearer(other)).status_code == 404
    for admin in (alice, bob):
        client.post(f"/v1/admin/access-requests/{request['id']}/approve", headers=admin, json={})

    deadline = time.monotonic() + 2.0
    while not (allowed := check(client, vera))["allow"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (allowed["allow"], allowed["tier"]) == (True, "trusted")
    unchanged = check(client, other)
    assert (unchanged["allow"], unchanged["tier"]) == (False, "verified")
