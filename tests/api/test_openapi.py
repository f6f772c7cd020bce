"""GET /openapi.json: a valid OpenAPI 3.1 document naming every endpoint of the API (govern.api:
JSON, plus the few files it serves, such as metrics and exports), and real responses that match it,
checked with jsonschema; then a bounded schemathesis run that must find no 5xx and no response
contradicting the document. The admin UI's HTML pages and sign-in redirects are not part of it.

Paths the document describes but this app does not serve (an endpoint built in another part of
the project) are skipped, found by asking the app's own URL map.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from factories import (
    ACTOR,
    add_models,
    make_escalation_path,
    make_governed_model,
    make_key,
    make_launch_ready,
    make_org,
    make_pep_key,
    make_signed_model,
    make_user_key,
)
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from govern.api.openapi import merge
from govern.governance.registry import find_model
from govern.governance.scorecards import rate_category
from govern.policy.store import change_policy

DOC = "urn:govern:openapi"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def template(rule: str) -> str:
    """A Flask rule as an OpenAPI path: <int(max=…):org_id> becomes {org_id}."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def in_api(app: Flask, rule: Rule) -> bool:
    """The route is the API's (govern.api), not a page of the admin UI or a static file."""
    return app.view_functions[rule.endpoint].__module__.startswith("govern.api.")


def served(app: Flask, path: str, method: str) -> bool:
    sample = re.sub(r"\{[^}]+\}", "1", path)
    try:
        app.url_map.bind("localhost").match(sample, method=method.upper())
    except (NotFound, MethodNotAllowed):
        return False
    return True


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


@pytest.fixture
def keys(session) -> dict[str, str]:
    """Keys of a verified organisation and of an enforcement point; the free tier may ask for one
    decision a minute, so forward-auth can be seen refusing with 429."""
    add_models(session)
    change_policy(session, lambda raw: raw.update(rate_limits={"free": {"per_minute": 1}}), actor=ACTOR,
                  comment="one a minute")
    return {"client": make_key(session, "acme", tier="verified"), "pep": make_pep_key(session)}


class Conformance:
    """Validates real responses against the document; remembers which operations it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry = Registry().with_resource(DOC, Resource.from_contents(
            document, default_specification=DRAFT202012))
        self.seen: set[tuple[str, str, int]] = set()

    def _operation(self, path: str, method: str) -> tuple[str, dict[str, Any]]:
        # A parameter is one segment; failing that, it may be a whole path (forward-auth for Envoy
        # takes the client's path after /v1/authorize/).
        for segment in ("[^/]+", ".+"):
            for name, item in self.document["paths"].items():
                pattern = "^" + re.sub(r"\\\{[^}]+\\\}", segment, re.escape(name)) + "$"
                if re.match(pattern, path) and method in item:
                    return name, item[method]
        raise AssertionError(f"{method.upper()} {path} is not in the document")

    def _deref(self, value: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in value:
            node: Any = self.document
            for part in value["$ref"].removeprefix("#/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            value = node
        return value

    def check(self, method: str, url: str, response: TestResponse) -> None:
        path = urlsplit(url).path
        name, operation = self._operation(path, method.lower())
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {path}: {status} is not documented"
        documented = self._deref(operation["responses"][status])
        self.seen.add((name, method.lower(), response.status_code))
        for header, spec in documented.get("headers", {}).items():
            if header in response.headers:
                schema = self._deref(spec)["schema"]
                Draft202012Validator(schema).validate(response.headers[header])
        content = documented.get("content")
        if not content:
            return
        assert response.mimetype in content, f"{method} {path} {status}: {response.mimetype}"
        pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in (
            "paths", name, method.lower(), "responses", status))
        base = f"{DOC}#/{pointer}"
        if "$ref" in operation["responses"][status]:
            base = DOC + operation["responses"][status]["$ref"]
        schema = {"$ref": f"{base}/content/{response.mimetype.replace('/', '~1')}/schema"}
        body = response.json if response.is_json else response.get_data(as_text=True)
        Draft202012Validator(schema, registry=self.registry).validate(body)


def test_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["Problem"]["required"] == ["code", "message", "status"]


def test_every_json_endpoint_the_app_serves_is_documented(app, document):
    rules = [rule for rule in app.url_map.iter_rules() if in_api(app, rule)]
    assert {"/v1/check", "/metrics", "/v1/authorize/<path:forwarded>"} <= {rule.rule for rule in rules}
    assert "/login" not in {rule.rule for rule in rules}
    missing = []
    for rule in rules:
        path = template(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []


def test_forward_auth_is_documented_with_its_gateway_contract(document):
    authorize = document["paths"]["/v1/authorize"]
    assert set(authorize) == {"get", "post"}
    responses = authorize["get"]["responses"]
    assert set(responses) >= {"200", "401", "403", "429"}
    assert set(responses["200"]["headers"]) == {"X-Govern-Tier", "X-Govern-Decision-Id", "X-Govern-Org"}
    assert "Retry-After" in responses["429"]["headers"]
    assert {p["name"] for p in authorize["get"]["parameters"] if "name" in p} >= {
        "X-Govern-Model", "X-Govern-Capability"}


def test_fragments_defining_the_same_operation_are_refused():
    assembled = {"paths": {"/a": {"get": {}}}}
    merge(assembled, {"paths": {"/a": {"post": {}}}})
    assert set(assembled["paths"]["/a"]) == {"get", "post"}
    with pytest.raises(ValueError, match="/paths//a/get"):
        merge(assembled, {"paths": {"/a": {"get": {}}}})


def test_real_responses_match_the_document(app, client, session, document, keys, admin, auditor):
    conformance = Conformance(document)
    client_key, pep = bearer(keys["client"]), bearer(keys["pep"])
    subject = {"type": "api_key", "id": keys["client"][:16]}
    evaluation = {"subject": subject, "resource": {"type": "model", "id": "open-7b"},
                  "action": {"name": "generate"}}
    asks = {"X-Govern-Model": "open-7b", "X-Govern-Capability": "generate"}
    deployment = "/openai/deployments/{}/completions"
    issuer = {"name": "corp", "issuer": "https://login.example.org", "audiences": ["https://govern.example"],
              "default_tier": "free", "rules": [{"claim": "groups", "contains": "safety", "tier": "trusted"},
                                                {"email_domain": "example.org", "tier": "verified"}],
              "sso": {"client_id": "govern", "client_secret_env": "GOVERN_SSO_CORP_SECRET",
                      "roles": {"govern-auditors": ["auditor"]}}}

    def call(method: str, url: str, options: dict[str, Any]) -> TestResponse:
        response = client.open(url, method=method, **options)
        conformance.check(method, url, response)
        return response

    # Forward-auth first (the calls below revoke the client key); the status is what the gateway
    # acts on, so each is checked too.
    forward_auth: list[tuple[int, str, str, dict[str, Any]]] = [
        (200, "GET", "/v1/authorize", {"headers": {**client_key, **asks, "X-Request-ID": "r-3"}}),
        (403, "POST", "/v1/authorize", {"headers": {**client_key, "X-Forwarded-Method": "POST",
                                                    "X-Forwarded-Uri": deployment.format("frontier-1")}}),
        (401, "GET", "/v1/authorize", {"headers": asks}),
        (403, "GET", "/v1/authorize", {"headers": {**client_key, "X-Original-URI": "/admin"}}),
        (200, "POST", "/v1/authorize/v1/chat/completions", {"json": {"model": "open-7b"},
                                                            "headers": client_key}),
        *((403, method, "/v1/authorize" + deployment.format("open-7b"), {"headers": client_key})
          for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS")),
    ]
    for status, method, url, options in forward_auth:
        assert call(method, url, options).status_code == status, f"{method} {url}"

    # Usage of an allow, reported by its gateway: stored, the same again, then each refusal.
    allowed = call("POST", "/v1/check", {"json": {"model": "open-7b", "capability": "generate"},
                                         "headers": client_key}).json["decision_id"]
    used = {"decision_id": allowed, "input_tokens": 10, "output_tokens": 2, "cost": "0.01"}
    for status, options in [(201, {"json": used, "headers": pep}), (200, {"json": used, "headers": pep}),
                            (409, {"json": {**used, "cost": "0.02"}, "headers": pep}),
                            (404, {"json": {**used, "decision_id": "0" * 26}, "headers": pep}),
                            (400, {"json": {**used, "input_tokens": -1}, "headers": pep}),
                            (401, {"json": used})]:
        assert call("POST", "/v1/usage", options).status_code == status

    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/healthz", {}), ("GET", "/readyz", {}), ("GET", "/v1/status", {}),
        ("GET", "/openapi.json", {}), ("GET", "/.well-known/authzen-configuration", {}),
        ("POST", "/v1/check", {"json": {"model": "open-7b", "capability": "generate"},
                               "headers": {**client_key, "X-Request-ID": "r-1"}}),
        ("POST", "/v1/check", {"json": {"model": "frontier-1", "capability": "generate"},
                               "headers": client_key}),
        ("POST", "/v1/check", {"json": {"model": 3}, "headers": client_key}),
        ("POST", "/v1/check", {"json": {"model": "open-7b", "capability": "generate"}}),
        ("POST", "/v1/check/batch", {"json": {"checks": [{"model": "open-7b", "capability": "tools"}]},
                                     "headers": client_key}),
        ("POST", "/v1/check/batch", {"json": {"checks": []}, "headers": client_key}),
        ("GET", "/v1/models", {"headers": client_key}),
        ("GET", "/v1/models", {}),
        ("POST", "/access/v1/evaluation", {"json": evaluation, "headers": {**pep, "X-Request-ID": "r-2"}}),
        ("POST", "/access/v1/evaluation", {"json": {"subject": subject}, "headers": pep}),
        ("POST", "/access/v1/evaluation", {"json": evaluation, "headers": client_key}),
        ("POST", "/access/v1/evaluations", {"json": {**evaluation, "evaluations": [{}, {
            "action": {"name": "fine_tune"}}]}, "headers": pep}),
        ("POST", "/access/v1/evaluations", {"json": evaluation, "headers": pep}),
        ("POST", "/access/v1/search/resource", {"json": {**evaluation, "resource": {"type": "model"}},
                                                "headers": pep}),
        ("POST", "/access/v1/search/action", {"json": evaluation, "headers": pep}),
        ("POST", "/access/v1/search/subject", {"json": {**evaluation, "subject": {"type": "organisation"}},
                                               "headers": pep}),
        ("GET", "/v1/decisions", {"headers": auditor}),
        ("GET", "/v1/decisions?limit=0", {"headers": auditor}),
        ("GET", "/v1/decisions", {"headers": client_key}),
        ("GET", "/v1/admin/policy", {"headers": auditor}),
        ("POST", "/v1/admin/playground", {"json": {"key": keys["client"][:16], "model": "open-7b",
                                                   "capability": "generate"}, "headers": auditor}),
        ("POST", "/v1/admin/playground", {"json": {"tier": "free", "model": "open-7b", "capability": "tools",
                                                   "document": {"tiers": []}}, "headers": admin}),
        ("POST", "/v1/admin/playground", {"json": {"organisation": "nobody", "model": "open-7b",
                                                   "capability": "generate"}, "headers": admin}),
        ("GET", "/v1/admin/tiers", {"headers": admin}),
        ("GET", "/v1/admin/capabilities", {"headers": admin}),
        ("GET", "/v1/admin/model-groups", {"headers": admin}),
        ("GET", "/v1/admin/grants", {"headers": admin}),
        ("GET", "/v1/admin/organisations", {"headers": admin}),
        ("GET", "/v1/admin/keys", {"headers": admin}),
        ("GET", "/v1/admin/organisations/1", {"headers": admin}),
        ("GET", "/v1/admin/organisations/999", {"headers": admin}),
        ("GET", f"/v1/admin/keys/{keys['client'][:16]}", {"headers": admin}),
        ("POST", "/v1/admin/tiers", {"json": {"name": "gold", "below": "internal"}, "headers": admin}),
        ("POST", "/v1/admin/tiers", {"json": {"name": "gold"}, "headers": auditor}),
        ("DELETE", "/v1/admin/tiers/gold", {"headers": admin}),
        ("DELETE", "/v1/admin/tiers/verified", {"headers": admin}),
        ("POST", "/v1/admin/capabilities", {"json": {"name": "embed"}, "headers": admin}),
        ("DELETE", "/v1/admin/capabilities/embed", {"headers": admin}),
        ("PUT", "/v1/admin/model-groups/extra", {"json": {"models": ["tiny-1"]}, "headers": admin}),
        ("POST", "/v1/admin/grants", {"json": {"tier": "free", "target": "extra", "capability": "generate"},
                                      "headers": admin}),
        ("DELETE", "/v1/admin/grants/allow:free:extra:generate", {"headers": admin}),
        ("PUT", "/v1/admin/blocked-models/tiny-1", {"headers": admin}),
        ("DELETE", "/v1/admin/blocked-models/tiny-1", {"headers": admin}),
        ("DELETE", "/v1/admin/model-groups/extra", {"headers": admin}),
        ("PUT", "/v1/admin/policy", {"json": {"document": {"tiers": []}}, "headers": admin}),
        ("POST", "/v1/admin/policy/diff", {"json": {"document": {"tiers": ["free"], "capabilities": []}},
                                           "headers": admin}),
        ("POST", "/v1/admin/policy/impact", {"json": {"document": {"tiers": ["free"], "capabilities": []},
                                                      "days": 2}, "headers": admin}),
        ("POST", "/v1/admin/organisations", {"json": {"name": "zeta", "tier": "free"}, "headers": admin}),
        ("PATCH", "/v1/admin/organisations/2", {"json": {"suspended": True}, "headers": admin}),
        ("POST", "/v1/admin/keys", {"json": {"organisation": "zeta"}, "headers": admin}),
        ("POST", "/v1/admin/keys", {"json": {"kind": "pep", "name": "nginx"}, "headers": admin}),
        ("DELETE", "/v1/admin/organisations/2", {"headers": admin}),
        ("PATCH", f"/v1/admin/keys/{keys['client'][:16]}", {"json": {"name": "n"}, "headers": admin}),
        ("POST", f"/v1/admin/keys/{keys['client'][:16]}/rotate", {"json": {"overlap_seconds": 60},
                                                                   "headers": admin}),
        ("POST", f"/v1/admin/keys/{keys['client'][:16]}/revoke", {"headers": admin}),
        ("DELETE", f"/v1/admin/keys/{keys['client'][:16]}", {"headers": admin}),
        ("POST", "/v1/admin/organisations", {"json": {"name": "x"}, "headers": admin}),
        ("POST", "/v1/admin/organisations", {"json": {"name": "gone", "tier": "free"}, "headers": admin}),
        ("DELETE", "/v1/admin/organisations/3", {"headers": admin}),
        ("GET", "/metrics", {}),
        ("GET", "/v1/admin/issuers", {"headers": auditor}),
        ("POST", "/v1/admin/issuers", {"json": issuer, "headers": admin}),
        ("POST", "/v1/admin/issuers", {"json": issuer, "headers": admin}),
        ("POST", "/v1/admin/issuers", {"json": {**issuer, "name": "x", "default_tier": "gold"},
                                       "headers": admin}),
        ("POST", "/v1/admin/issuers", {"json": issuer, "headers": auditor}),
        ("POST", "/v1/admin/issuers", {"json": {  # one admin alone never grants a governance role
            **issuer, "name": "corp3", "issuer": "https://corp3.example.org",
            "sso": {**issuer["sso"], "roles": {"govern-admins": ["admin"]}}}, "headers": admin}),
        ("GET", "/v1/admin/issuers/corp", {"headers": auditor}),
        ("GET", "/v1/admin/issuers/nope", {"headers": auditor}),
        ("PUT", "/v1/admin/issuers/corp", {"json": {**issuer, "label": "Corp", "sso": None},
                                           "headers": admin}),
        ("PUT", "/v1/admin/issuers/corp/rules", {"json": {"rules": [
            {"claim": "client_id", "equals": "batch", "tier": "internal"}]}, "headers": admin}),
        ("PUT", "/v1/admin/issuers", {"json": {"issuers": [issuer, {
            **issuer, "name": "corp2", "issuer": "https://id.example.org"}]}, "headers": admin}),
        ("PUT", "/v1/admin/issuers", {"json": {"issuers": [issuer, issuer]}, "headers": admin}),
        ("DELETE", "/v1/admin/issuers/corp2", {"headers": admin}),
        ("DELETE", "/v1/admin/issuers/corp2", {"headers": admin}),
        # People: alice (account 1, person 1) is the only admin; audrey is account 2, person 2.
        ("GET", "/v1/admin/users", {"headers": auditor}),
        ("GET", "/v1/admin/users/people/2", {"headers": auditor}),
        ("GET", "/v1/admin/users/people/999", {"headers": auditor}),
        ("POST", "/v1/admin/users/2/roles", {"json": {"role": "reviewer"}, "headers": admin}),
        ("POST", "/v1/admin/users/2/roles", {"json": {"role": "wizard"}, "headers": admin}),
        ("DELETE", "/v1/admin/users/2/roles/reviewer", {"headers": admin}),
        ("DELETE", "/v1/admin/users/1/roles/admin", {"headers": admin}),
        ("PUT", "/v1/admin/users/2/person", {"json": {"person_id": 2}, "headers": admin}),
        ("POST", "/v1/admin/users/999/password", {"headers": admin}),
        ("PATCH", "/v1/admin/users/people/2", {"json": {"display_name": "Audrey", "email": None},
                                               "headers": admin}),
        ("POST", "/v1/admin/users/people/2/disable", {"headers": admin}),
        ("POST", "/v1/admin/users/people/2/enable", {"headers": admin}),
        ("POST", "/v1/admin/users/people/2/disable", {"headers": auditor}),
        ("POST", "/v1/admin/users/2/password", {"headers": admin}),
        ("POST", "/v1/admin/users/2/unlock", {"headers": admin}),
        ("POST", "/v1/admin/users/999/unlock", {"headers": admin}),
        ("POST", "/v1/admin/users/2/unlock", {"headers": auditor}),
        ("GET", "/v1/exports/public-key", {}),
        ("GET", "/v1/decisions/export?format=csv&result=allow", {"headers": auditor}),
        ("GET", "/v1/decisions/export?format=parquet", {"headers": auditor}),
        ("GET", "/v1/decisions/export?org=nobody", {"headers": auditor}),
        ("GET", "/v1/audit/export", {}),
        ("GET", "/v1/exports/nope/manifest", {"headers": auditor}),
    ]
    for method, url, options in calls:
        call(method, url, options)

    # With a second admin, a guarded change waits as a proposal (202) until another admin decides.
    bob = bearer(make_user_key(session, "bob", frozenset({"admin"})))
    raised = make_org(session, "raised", "free")
    proposed = [call("PATCH", f"/v1/admin/organisations/{raised}", {
        "json": {"tier": "trusted"}, "headers": admin}).json["id"] for _ in range(3)]
    decisions: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/admin/proposals?state=pending", {"headers": auditor}),
        ("GET", "/v1/admin/proposals?state=maybe", {"headers": auditor}),
        ("GET", f"/v1/admin/proposals/{proposed[0]}", {"headers": auditor}),
        ("GET", "/v1/admin/proposals/999", {"headers": auditor}),
        ("POST", f"/v1/admin/proposals/{proposed[0]}/approve", {"headers": admin}),
        ("POST", f"/v1/admin/proposals/{proposed[0]}/approve", {"json": {"reason": "ok"}, "headers": bob}),
        ("POST", f"/v1/admin/proposals/{proposed[1]}/reject", {"json": {"reason": "no"}, "headers": bob}),
        ("POST", f"/v1/admin/proposals/{proposed[1]}/reject", {"headers": bob}),
        ("POST", f"/v1/admin/proposals/{proposed[2]}/withdraw", {"headers": bob}),
        ("POST", f"/v1/admin/proposals/{proposed[2]}/withdraw", {"headers": admin}),
        ("POST", f"/v1/admin/proposals/{proposed[2]}/withdraw", {"headers": admin}),
    ]
    for method, url, options in decisions:
        call(method, url, options)

    # Access requests: a free-tier caller is denied, asks for verified; two admins grant one request,
    # another is rejected with a reason.
    asker = bearer(make_key(session, "asker", tier="free"))
    ask = {"kind": "tier", "tier": "verified", "justification": "a pilot", "duration_seconds": 60}
    denied = call("POST", "/v1/check", {"json": {"model": "chat-standard", "capability": "generate"},
                                        "headers": asker})
    assert denied.json["access_request"]["would_allow"] == {"tier": "verified"}
    asked, other = (call("POST", "/v1/access-requests", {"json": ask, "headers": asker}).json["id"]
                    for _ in range(2))
    access_requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/access-requests", {"json": {**ask, "tier": "free"}, "headers": asker}),
        ("POST", "/v1/access-requests", {"json": {**ask, "kind": "everything"}, "headers": asker}),
        ("POST", "/v1/access-requests", {"json": {**ask, "decision_id": "0" * 26}, "headers": asker}),
        ("POST", "/v1/access-requests", {"json": ask}),
        ("GET", f"/v1/access-requests/{asked}", {"headers": asker}),
        ("GET", "/v1/access-requests/999", {"headers": asker}),
        ("GET", "/v1/admin/access-requests?state=pending", {"headers": auditor}),
        ("GET", "/v1/admin/access-requests?state=maybe", {"headers": auditor}),
        ("GET", f"/v1/admin/access-requests/{asked}", {"headers": auditor}),
        ("GET", "/v1/admin/access-requests/999", {"headers": auditor}),
        ("POST", f"/v1/admin/access-requests/{asked}/approve", {"headers": admin}),
        ("POST", f"/v1/admin/access-requests/{asked}/approve", {"headers": admin}),
        ("POST", f"/v1/admin/access-requests/{asked}/approve", {"json": {"reason": "ok"}, "headers": bob}),
        ("POST", f"/v1/admin/access-requests/{asked}/approve", {"headers": bob}),
        ("POST", f"/v1/admin/access-requests/{other}/reject", {"headers": bob}),
        ("POST", f"/v1/admin/access-requests/{other}/reject", {"json": {"reason": "no"}, "headers": auditor}),
        ("POST", f"/v1/admin/access-requests/{other}/reject", {"json": {"reason": "no"}, "headers": bob}),
    ]
    for method, url, options in access_requests:
        call(method, url, options)

    # A public address given as a literal: checked without a name lookup.
    hook = {"url": "https://93.184.215.14/hook", "event_types": ["signoff.made"]}
    webhook = call("POST", "/v1/admin/webhooks", {"json": hook, "headers": admin}).json["id"]
    webhooks: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/admin/webhooks", {"json": {**hook, "url": "http://127.0.0.1/"}, "headers": admin}),
        ("GET", "/v1/admin/webhooks", {"headers": auditor}),
        ("GET", f"/v1/admin/webhooks/{webhook}", {"headers": auditor}),
        ("PATCH", f"/v1/admin/webhooks/{webhook}", {"json": {"enabled": False}, "headers": admin}),
        ("GET", f"/v1/admin/webhooks/{webhook}/deliveries", {"headers": auditor}),
        ("POST", "/v1/admin/deliveries/999/replay", {"headers": admin}),
        ("DELETE", f"/v1/admin/webhooks/{webhook}", {"headers": auditor}),
        ("DELETE", f"/v1/admin/webhooks/{webhook}", {"headers": admin}),
    ]
    for method, url, options in webhooks:
        call(method, url, options)

    # The governance API: a model registered, rated, reviewed, signed off, checked, reversed,
    # released, suspended and lifted, versioned and retired.
    r1, r2, r3, boss, bea = (bearer(make_user_key(session, name, frozenset({role}))) for name, role in (
        ("r1", "reviewer"), ("r2", "reviewer"), ("r3", "reviewer"), ("boss", "approver"), ("bea", "board")))
    gov = "/v1/governance/models"
    registered = {"name": "gov-api", "version": "1.0", "owner": "team", "model_group": "standard"}
    assert call("POST", gov, {"json": registered, "headers": admin}).status_code == 201
    model = find_model(session, "gov-api")
    make_launch_ready(session, model)
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)
    for category in ("cbrn", "cybersecurity", "persuasion"):
        rate_category(session, actor="user:rita", model=model, category=category, pre_level="high",
                      post_level="medium", evidence="eval report")
    rating = {"category": "model_autonomy", "pre_level": "high", "post_level": "low", "evidence": "evals"}
    review = {"recommendation": "open", "tier": "verified", "rationale": "safe enough"}
    governance: list[tuple[int, str, str, dict[str, Any]]] = [
        (409, "POST", gov, {"json": registered, "headers": admin}),
        (400, "POST", gov, {"json": {**registered, "name": "x y"}, "headers": admin}),
        (200, "GET", f"{gov}?page=1", {"headers": auditor}),
        (404, "GET", f"{gov}/nothing", {"headers": auditor}),
        (400, "POST", f"{gov}/gov-api/ratings", {"json": {**rating, "post_level": "huge"}, "headers": r3}),
        (201, "POST", f"{gov}/gov-api/ratings", {"json": rating, "headers": r3}),
        (200, "GET", f"{gov}/gov-api/ratings", {"headers": auditor}),
        (403, "POST", f"{gov}/gov-api/reviews", {"json": review, "headers": r3}),
        (201, "POST", f"{gov}/gov-api/reviews", {"json": review, "headers": r1}),
        (409, "POST", f"{gov}/gov-api/sign-offs", {"json": {"tier": "verified"}, "headers": boss}),
        (201, "POST", f"{gov}/gov-api/reviews", {"json": review, "headers": r2}),
        (200, "GET", f"{gov}/gov-api/reviews", {"headers": auditor}),
        (200, "POST", f"{gov}/gov-api/sign-offs", {"json": {"tier": "verified", "check_only": True},
                                                   "headers": boss}),
        (201, "POST", f"{gov}/gov-api/sign-offs", {"json": {"tier": "verified"}, "headers": boss}),
        (200, "GET", f"{gov}/gov-api/sign-offs", {"headers": auditor}),
        (200, "GET", f"{gov}/gov-api", {"headers": auditor}),
        (200, "GET", f"{gov}/gov-api/deployable?tier=verified", {"headers": auditor}),
        (409, "GET", f"{gov}/gov-api/deployable?tier=free&strict=1", {"headers": auditor}),
        (400, "GET", f"{gov}/gov-api/deployable", {"headers": auditor}),
        (404, "GET", f"{gov}/nothing/deployable?tier=free", {"headers": auditor}),
        (403, "POST", f"{gov}/gov-api/sign-offs/1/reverse", {"json": {"rationale": "no"}, "headers": boss}),
        (404, "POST", f"{gov}/gov-api/sign-offs/999/reverse", {"json": {"rationale": "no"}, "headers": bea}),
    ]
    for status, method, url, options in governance:
        assert call(method, url, options).status_code == status, f"{method} {url}"
    signed = call("GET", f"{gov}/gov-api/sign-offs", {"headers": auditor}).json["sign_offs"][0]["id"]
    governance = [
        *((status, "POST", f"{gov}/gov-api/sign-offs/{signed}/reverse", {"json": {"rationale": "no"},
                                                                         "headers": bea})
          for status in (200, 409)),
        *((status, "POST", f"{gov}/gov-api/hold/release", {"json": {"rationale": "fixed"}, "headers": bea})
          for status in (200, 409)),
        (200, "POST", f"{gov}/gov-api/suspension", {"json": {"reason": "abuse"}, "headers": admin}),
        (409, "POST", f"{gov}/gov-api/suspension", {"json": {"reason": "abuse"}, "headers": admin}),
        (200, "POST", f"{gov}/gov-api/suspension/lift", {"json": {"reason": "ok"}, "headers": boss}),
        (400, "POST", f"{gov}/gov-api/suspension/lift", {"json": {}, "headers": boss}),
        (201, "POST", f"{gov}/gov-api/versions", {"json": {"version": "2.0"}, "headers": admin}),
        (409, "POST", f"{gov}/gov-api/versions", {"json": {"version": "2.0"}, "headers": admin}),
        (200, "GET", f"{gov}/gov-api/versions", {"headers": auditor}),
        (200, "POST", f"{gov}/gov-api/retirement", {"json": {"reason": "replaced"}, "headers": admin}),
        (409, "POST", f"{gov}/gov-api/retirement", {"json": {"reason": "replaced"}, "headers": admin}),
    ]
    for status, method, url, options in governance:
        assert call(method, url, options).status_code == status, f"{method} {url}"
    # Red team: a reviewer records an exercise and a high finding; she may not accept it herself.
    make_governed_model(session, "rt-model")
    teamer = bearer(make_user_key(session, "teamer", frozenset({"reviewer"})))
    red = "/v1/governance/red-team"
    exercise = call("POST", "/v1/governance/models/rt-model/red-team/exercises", {"json": {
        "scope": "jailbreaks", "started_on": "2026-11-02", "participants": [{"name": "Eve"}]},
        "headers": teamer}).json["id"]
    finding = call("POST", f"{red}/exercises/{exercise}/findings", {"json": {
        "title": "DAN", "category": "jailbreak", "severity": "high"}, "headers": teamer}).json["id"]
    red_team: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/governance/models/rt-model/red-team", {"headers": auditor}),
        ("GET", f"{red}/exercises/{exercise}", {"headers": auditor}),
        ("GET", f"{red}/findings/{finding}", {"headers": auditor}),
        ("POST", f"{red}/findings/{finding}/accept", {"json": {"rationale": "mine"}, "headers": teamer}),
        ("POST", f"{red}/findings/{finding}/mitigate", {"json": {"mitigation": "filter"}, "headers": teamer}),
        ("POST", f"{red}/findings/{finding}/reopen", {"json": {"reason": "bypassed"}, "headers": teamer}),
        ("POST", f"{red}/findings/{finding}/reopen", {"json": {"reason": "again"}, "headers": teamer}),
    ]
    for method, url, options in red_team:
        call(method, url, options)
    # Governance: a deployed model's launch checklist and re-reviews, and a model not deployed.
    make_signed_model(session, "gov-ck")
    make_governed_model(session, "gov-ck-new")
    reviewer = bearer(make_user_key(session, "rhea", frozenset({"reviewer"})))
    checklist = "/v1/governance/models/gov-ck/checklist"
    re_reviews = "/v1/governance/models/gov-ck/re-reviews"
    fine = {"recommendation": "continue", "rationale": "abuse rate flat"}
    governance: list[tuple[int, str, str, dict[str, Any]]] = [
        (200, "GET", f"{checklist}?tier=verified", {"headers": auditor}),
        (400, "GET", f"{checklist}?tier=nope", {"headers": auditor}),
        (404, "GET", "/v1/governance/models/nothing/checklist", {"headers": auditor}),
        (200, "PUT", f"{checklist}/red_team", {
            "json": {"state": "done", "owner": "alice", "evidence": "RT-7"}, "headers": reviewer}),
        (400, "PUT", f"{checklist}/red_team", {"json": {"state": "done"}, "headers": reviewer}),
        (403, "PUT", f"{checklist}/red_team", {"json": {"state": "open"}, "headers": auditor}),
        (201, "POST", re_reviews, {"json": fine, "headers": reviewer}),
        (403, "POST", re_reviews, {"json": fine, "headers": auditor}),
        (409, "POST", "/v1/governance/models/gov-ck-new/re-reviews", {"json": fine, "headers": reviewer}),
        (200, "GET", re_reviews, {"headers": auditor}),
        (200, "GET", "/v1/governance/models/gov-ck-new/re-reviews", {"headers": auditor}),
    ]
    for status, method, url, options in governance:
        assert call(method, url, options).status_code == status, f"{method} {url}"
    # Incidents and feedback: the intake on the decision plane, then the governance API.
    call("POST", "/v1/feedback", {"json": {"decision_id": "0" * 26, "subject": "output", "category": "abuse"},
                                  "headers": pep})
    incident = call("POST", "/v1/governance/incidents", {"json": {"title": "jailbreak", "severity": "sev2"},
                                                         "headers": admin}).json["id"]
    incidents: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/governance/incidents?state=open", {"headers": auditor}),
        ("GET", f"/v1/governance/incidents/{incident}", {"headers": auditor}),
        ("PATCH", f"/v1/governance/incidents/{incident}", {"json": {"severity": "sev1"}, "headers": admin}),
        ("POST", f"/v1/governance/incidents/{incident}/notes", {"json": {"text": "seen"}, "headers": admin}),
        ("POST", f"/v1/governance/incidents/{incident}/actions", {"json": {"audit_event_id": 999_999},
                                                                  "headers": admin}),
        ("POST", f"/v1/governance/incidents/{incident}/reviews", {"json": {"findings": "x"},
                                                                  "headers": admin}),
        ("GET", "/v1/governance/feedback?state=new", {"headers": auditor}),
        ("POST", "/v1/governance/feedback/999/triage", {"json": {"state": "dismissed"}, "headers": admin}),
        ("POST", "/v1/governance/feedback/999/incident", {"json": {"incident_id": incident},
                                                           "headers": admin}),
    ]
    for method, url, options in incidents:
        call(method, url, options)

    # The check reads the whole file, so the export's manifest is signed by now.
    export = call("GET", "/v1/audit/export?format=jsonl", {"headers": admin})
    manifest = call("GET", f"/v1/exports/{export.headers['X-Govern-Export-Id']}/manifest",
                    {"headers": auditor})
    assert (manifest.status_code, manifest.json["kind"]) == (200, "audit")
    # A free-tier key (made last: the calls above name organisations by id) over its one a minute:
    # 429 for Traefik and Envoy; 403 behind nginx, whose auth_request passes on nothing else.
    limited = {**bearer(make_key(session, "lowly", tier="free")), "X-Forwarded-Method": "POST",
               "X-Forwarded-Uri": deployment.format("open-7b")}
    refusals = [call("GET", "/v1/authorize", {"headers": headers}) for headers in (
        limited, limited, {**limited, "X-Original-Method": "POST",
                           "X-Original-URI": deployment.format("open-7b")})]
    assert [r.status_code for r in refusals] == [200, 429, 403]
    assert [r.headers.get("X-Govern-Reason") for r in refusals] == [None, "rate_limited", "rate_limited"]
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refusals[1:])

    operations = {(path, method) for path, item in document["paths"].items()
                  for method in item if method != "parameters" and served(app, path, method)}
    assert operations - {(path, method) for path, method, _ in conformance.seen} == set()
    statuses = {status for _, _, status in conformance.seen}
    assert statuses >= {200, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429}


# -- schemathesis ----------------------------------------------------------------------------------

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
# The random run: new cases on every run (a failure prints its example), within a time budget.
RANDOM_BUDGET_SECONDS = 40
DEADLINE_MS = 10_000  # per case; generous, as the machine may be busy


def credentials(path: str, keys: dict[str, str], admin: dict[str, str]) -> dict[str, str]:
    if path.startswith("/access/"):
        return bearer(keys["pep"])
    if path.startswith(("/v1/check", "/v1/models", "/v1/authorize")):
        return bearer(keys["client"])
    return admin


def fuzz(operation: Any, headers: dict[str, str], *, examples: int = 6, derandomize: bool = True) -> None:
    """A few generated requests to one operation: none may answer 5xx or contradict the document."""

    @settings(max_examples=examples, deadline=DEADLINE_MS if not derandomize else None, database=None,
              derandomize=derandomize, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers={**headers, **(case.headers or {})})
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        case.validate_response(response, checks=CHECKS)

    run()


def test_schemathesis_finds_no_server_error_and_no_contradiction(app, keys, admin):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    exercised = [op for op in operations if served(app, op.path, op.method)]
    for operation in exercised:
        fuzz(operation, credentials(operation.path, keys, admin))
    assert len(exercised) >= 40


def test_schemathesis_random_cases_find_no_server_error_and_no_contradiction(app, keys, admin):
    """Not derandomized: each run draws other cases, for a bounded time, over every operation in
    a shuffled order (so a short budget still reaches them all over runs)."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if served(app, op.path, op.method)]
    random.shuffle(operations)
    stop = time.monotonic() + RANDOM_BUDGET_SECONDS
    done = 0
    for operation in operations:
        if time.monotonic() >= stop:
            break
        fuzz(operation, credentials(operation.path, keys, admin), examples=3, derandomize=False)
        done += 1
    assert done >= 1
