"""The AuthZEN Authorization API 1.0: single and batch evaluations, the three searches, the
metadata document, every error case, and the decision row behind each evaluation.

Subjects are govern's own: API keys by visible prefix, organisations by name; models are
resources of type `model` and capabilities are action names. The caller is an enforcement point
holding a `pep` key. Default policy: free < verified < trusted < internal; verified may
`generate` on chat-standard, `generate` and `tools` on open-7b; frontier-1 needs trusted.
"""

from __future__ import annotations

from typing import Any

import pytest
from factories import ACTOR, add_models, make_key, make_org, make_pep_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.decisions import search
from govern.identity.keys import revoke_key
from govern.identity.organisations import update_org
from govern.models import Decision
from govern.policy.store import change_policy

WWW_AUTHENTICATE = 'Bearer realm="govern"'


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def prefix(key: str) -> str:
    return key[:16]


def ask(subject: dict[str, Any], model: str, capability: str, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "resource": {"type": "model", "id": model},
            "action": {"name": capability}, **extra}


def rows(session: Session) -> list[Decision]:
    session.expire_all()
    return list(session.execute(select(Decision).order_by(Decision.decision_id)).scalars())


@pytest.fixture
def world(session: Session) -> dict[str, str]:
    """The test models, organisations acme (verified) and bigco (trusted), a client key of each,
    and an enforcement-point key."""
    add_models(session)
    make_org(session, "bigco", "trusted")
    return {"acme": make_key(session, "acme", tier="verified"), "bigco": make_key(session, "bigco"),
            "pep": make_pep_key(session, "edge-gateway")}


@pytest.fixture
def pep(world: dict[str, str]) -> dict[str, str]:
    return bearer(world["pep"])


def acme_key(world: dict[str, str]) -> dict[str, str]:
    return {"type": "api_key", "id": prefix(world["acme"])}


# -- single evaluation -----------------------------------------------------------------------------


def test_api_key_subject_allowed_by_its_tier(client, world, pep):
    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "chat-standard", "generate"),
                           headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is True
    context = response.json["context"]
    assert context["reason"] == "granted_by_tier"
    assert context["tier"] == "verified"
    assert context["rule"] == "p, verified, standard, generate, allow"
    assert context["reason_admin"] == {"en": "a grant to the caller's tier (or a tier below it) allows this"}


def test_organisation_subject_below_the_tier_is_denied(client, world, pep):
    response = client.post("/access/v1/evaluation",
                           json=ask({"type": "organisation", "id": "acme"}, "frontier-1", "generate"),
                           headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "tier_too_low"


def test_organisation_subject_with_the_tier_is_allowed(client, world, pep):
    response = client.post("/access/v1/evaluation",
                           json=ask({"type": "organisation", "id": "bigco"}, "frontier-1", "generate"),
                           headers=pep)

    assert response.json["decision"] is True


@pytest.mark.parametrize("subject", [
    {"type": "api_key", "id": "gvk_000000000000"},
    {"type": "organisation", "id": "nobody-ltd"},
    {"type": "identity", "id": "248289761001", "properties": {"iss": "https://idp.example.com"}},
    {"type": "user", "id": "alice@example.com"},
])
def test_unknown_subject_is_a_deny_not_an_error(client, world, pep, subject):
    response = client.post("/access/v1/evaluation", json=ask(subject, "open-7b", "generate"), headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "unknown_subject"


def test_the_whole_key_as_subject_id_is_an_unknown_subject(client, world, pep):
    response = client.post("/access/v1/evaluation",
                           json=ask({"type": "api_key", "id": world["acme"]}, "open-7b", "generate"),
                           headers=pep)

    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "unknown_subject"


def test_enforcement_point_key_as_subject_is_an_unknown_subject(client, world, pep):
    response = client.post("/access/v1/evaluation",
                           json=ask({"type": "api_key", "id": prefix(world["pep"])}, "open-7b", "generate"),
                           headers=pep)

    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "unknown_subject"


def test_revoked_key_subject_is_denied_with_key_revoked(client, session, world, pep):
    revoke_key(session, prefix(world["acme"]), actor="test")

    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "key_revoked"


def test_suspended_organisation_subject_is_denied(client, session, world, pep):
    update_org(session, "acme", actor="test", suspended=True)

    response = client.post("/access/v1/evaluation",
                           json=ask({"type": "organisation", "id": "acme"}, "open-7b", "generate"),
                           headers=pep)

    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "org_suspended"


def test_resource_that_is_not_a_model_is_denied(client, world, pep):
    body = ask(acme_key(world), "chat-standard", "generate")
    body["resource"] = {"type": "dataset", "id": "chat-standard"}

    response = client.post("/access/v1/evaluation", json=body, headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is False
    assert response.json["context"]["reason"] == "unknown_resource_type"


def test_properties_and_context_are_accepted(client, world, pep):
    body = ask({**acme_key(world), "properties": {"department": "x"}}, "chat-standard", "generate",
               context={"time": "2030-01-01T00:00:00Z"})
    body["resource"]["properties"] = {"region": "eu"}
    body["action"]["properties"] = {"method": "POST"}

    response = client.post("/access/v1/evaluation", json=body, headers=pep)

    assert response.json["decision"] is True


def test_evaluation_is_logged_with_subject_and_enforcement_point(client, session, world, pep):
    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "frontier-1", "generate"),
                           headers={**pep, "X-Request-ID": "authzen-1"})

    [row] = rows(session)
    assert row.decision_id == response.json["context"]["id"]
    assert row.key_prefix == prefix(world["acme"])
    assert row.pep_prefix == prefix(world["pep"])
    assert (row.model, row.capability, row.allow, row.reason) == ("frontier-1", "generate", False,
                                                                  "tier_too_low")
    assert row.tier == "verified"
    assert row.request_id == "authzen-1"


def test_request_id_is_echoed(client, world, pep):
    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers={**pep, "X-Request-ID": "pep-req-42"})

    assert response.headers["X-Request-ID"] == "pep-req-42"


MALFORMED = [
    ("not json", "malformed_json"),
    ("[1, 2]", "malformed_json"),
    ('{"resource": {"type": "model", "id": "m"}, "action": {"name": "generate"}}', "missing_field"),
    ('{"subject": "acme", "resource": {"type": "model", "id": "m"}, "action": {"name": "g"}}',
     "invalid_field"),
    ('{"subject": {"id": "acme"}, "resource": {"type": "model", "id": "m"}, "action": {"name": "g"}}',
     "missing_field"),
    ('{"subject": {"type": "organisation"}, "resource": {"type": "model", "id": "m"}, '
     '"action": {"name": "g"}}', "missing_field"),
    ('{"subject": {"type": "organisation", "id": 7}, "resource": {"type": "model", "id": "m"}, '
     '"action": {"name": "g"}}', "invalid_field"),
    ('{"subject": {"type": "organisation", "id": ""}, "resource": {"type": "model", "id": "m"}, '
     '"action": {"name": "g"}}', "invalid_field"),
    ('{"subject": {"type": "organisation", "id": "a", "properties": []}, '
     '"resource": {"type": "model", "id": "m"}, "action": {"name": "g"}}', "invalid_field"),
    ('{"subject": {"type": "organisation", "id": "a"}, "action": {"name": "g"}}', "missing_field"),
    ('{"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model"}, '
     '"action": {"name": "g"}}', "missing_field"),
    ('{"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model", "id": "m"}}',
     "missing_field"),
    ('{"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model", "id": "m"}, '
     '"action": {}}', "missing_field"),
    ('{"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model", "id": "m"}, '
     '"action": {"name": "g"}, "context": "x"}', "invalid_field"),
]


@pytest.mark.parametrize(("body", "code"), MALFORMED)
def test_malformed_evaluation_is_a_400_problem_with_the_request_id(client, world, pep, body, code):
    response = client.post("/access/v1/evaluation", data=body,
                           headers={**pep, "Content-Type": "application/json", "X-Request-ID": "bad-1"})

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code
    assert response.headers["X-Request-ID"] == "bad-1"


def test_invalid_request_id_is_a_400(client, world, pep):
    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers={**pep, "X-Request-ID": "has\ta tab in it"})

    assert response.status_code == 400
    assert response.json["code"] == "invalid_request_id"


def test_oversized_evaluation_is_a_413(client, world, pep):
    body = ask(acme_key(world), "open-7b", "generate", context={"pad": "x" * 70_000})

    response = client.post("/access/v1/evaluation", json=body, headers=pep)

    assert response.status_code == 413
    assert response.json["code"] == "body_too_large"


@pytest.mark.parametrize(("credential", "code"), [
    (None, "key_missing"),
    ("gvk_nonsense", "key_unknown"),
    ("acme", "key_wrong_kind"),
])
def test_enforcement_point_without_a_valid_pep_key_gets_401(client, session, world, credential, code):
    headers = bearer(world[credential]) if credential in world else (
        bearer(credential) if credential else {})

    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers={**headers, "X-Request-ID": "no-pep"})

    assert response.status_code == 401
    assert response.json["code"] == code
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert response.headers["X-Request-ID"] == "no-pep"
    [row] = rows(session)
    assert (row.allow, row.reason, row.key_prefix) == (False, code, None)


def test_revoked_pep_key_gets_401_and_is_logged_with_its_prefix(client, session, world):
    revoke_key(session, prefix(world["pep"]), actor="test")

    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers=bearer(world["pep"]))

    assert response.status_code == 401
    assert response.json["code"] == "key_revoked"
    [row] = rows(session)
    assert row.pep_prefix == prefix(world["pep"])


# -- batch -----------------------------------------------------------------------------------------


def test_batch_inherits_top_level_defaults_and_keeps_order(client, world, pep):
    body = {
        "subject": acme_key(world), "action": {"name": "generate"},
        "evaluations": [
            {"resource": {"type": "model", "id": "chat-standard"}},
            {"resource": {"type": "model", "id": "frontier-1"}},
            {"resource": {"type": "model", "id": "frontier-1"},
             "subject": {"type": "organisation", "id": "bigco"}},
            {"resource": {"type": "model", "id": "open-7b"}, "action": {"name": "fine_tune"}},
        ],
    }

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert response.status_code == 200
    answers = response.json["evaluations"]
    assert [a["decision"] for a in answers] == [True, False, True, False]
    assert [a["context"]["reason"] for a in answers] == [
        "granted_by_tier", "tier_too_low", "granted_by_tier", "tier_too_low"]


def test_batch_every_evaluation_is_logged(client, session, world, pep):
    body = {"subject": acme_key(world), "resource": {"type": "model", "id": "open-7b"},
            "evaluations": [{"action": {"name": "generate"}}, {"action": {"name": "fine_tune"}}]}

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    logged = rows(session)
    assert [r.decision_id for r in logged] == sorted(a["context"]["id"] for a in response.json["evaluations"])
    assert {(r.capability, r.allow) for r in logged} == {("generate", True), ("fine_tune", False)}
    assert {r.pep_prefix for r in logged} == {prefix(world["pep"])}


FOUR = ["open-7b", "frontier-1", "chat-standard", "research-preview"]  # acme: allow, deny, allow, deny


def four_models(world: dict[str, str], semantic: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": acme_key(world), "action": {"name": "generate"},
                            "evaluations": [{"resource": {"type": "model", "id": m}} for m in FOUR]}
    if semantic:
        body["options"] = {"evaluations_semantic": semantic}
    return body


@pytest.mark.parametrize(("semantic", "decisions"), [
    (None, [True, False, True, False]),
    ("execute_all", [True, False, True, False]),
    ("deny_on_first_deny", [True, False]),
    ("permit_on_first_permit", [True]),
])
def test_evaluations_semantic_stops_where_the_spec_says(client, session, world, pep, semantic, decisions):
    response = client.post("/access/v1/evaluations", json=four_models(world, semantic), headers=pep)

    assert response.status_code == 200
    assert [a["decision"] for a in response.json["evaluations"]] == decisions
    assert len(rows(session)) == len(decisions)


def test_permit_on_first_permit_runs_on_through_denies(client, world, pep):
    body = four_models(world, "permit_on_first_permit")
    body["evaluations"] = body["evaluations"][1:]

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert [a["decision"] for a in response.json["evaluations"]] == [False, True]


@pytest.mark.parametrize("evaluations", [None, []])
def test_batch_without_evaluations_answers_as_a_single_evaluation(client, world, pep, evaluations):
    body = ask(acme_key(world), "chat-standard", "generate")
    if evaluations is not None:
        body["evaluations"] = evaluations

    response = client.post("/access/v1/evaluations", json=body, headers=pep)

    assert response.status_code == 200
    assert response.json["decision"] is True
    assert "evaluations" not in response.json


@pytest.mark.parametrize(("change", "code", "names"), [
    ({"evaluations": "all"}, "invalid_field", "'evaluations' must be an array"),
    ({"options": {"evaluations_semantic": "first_wins"}}, "invalid_field", "evaluations_semantic"),
    ({"options": "fast"}, "invalid_field", "'options' must be an object"),
    ({"evaluations": [{"resource": {"type": "model", "id": "open-7b"}}] * 101}, "invalid_batch",
     "at most 100"),
])
def test_malformed_batch_is_a_400(client, world, pep, change, code, names):
    body = {"subject": acme_key(world), "action": {"name": "generate"},
            "evaluations": [{"resource": {"type": "model", "id": "open-7b"}}], **change}
    body = {k: v for k, v in body.items() if v is not None}

    response = client.post("/access/v1/evaluations", json=body, headers={**pep, "X-Request-ID": "b-1"})

    assert response.status_code == 400
    assert response.json["code"] == code
    assert names in response.json["message"]
    assert response.headers["X-Request-ID"] == "b-1"


def test_batch_without_pep_key_is_401(client, world):
    response = client.post("/access/v1/evaluations", json=four_models(world, None),
                           headers=bearer(world["acme"]))

    assert response.status_code == 401
    assert response.json["code"] == "key_wrong_kind"
    assert response.json["message"] == ("this endpoint needs an enforcement-point (pep) key; "
                                        "the key sent is a client key (401)")
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


# -- search ----------------------------------------------------------------------------------------


def test_resource_search_lists_the_models_a_subject_may_use(client, world, pep):
    response = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"}})

    assert response.status_code == 200
    assert response.json["results"] == [{"type": "model", "id": "chat-standard"},
                                        {"type": "model", "id": "open-7b"}]
    assert response.json["page"] == {"next_token": "", "count": 2, "total": 2}


def test_resource_search_for_an_unknown_subject_is_empty(client, world, pep):
    response = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": {"type": "organisation", "id": "nobody"}, "action": {"name": "generate"},
        "resource": {"type": "model"}})

    assert response.status_code == 200
    assert response.json["results"] == []


def test_action_search_lists_the_capabilities_on_a_model(client, world, pep):
    response = client.post("/access/v1/search/action", headers=pep, json={
        "subject": {"type": "organisation", "id": "bigco"},
        "resource": {"type": "model", "id": "chat-standard"}})

    assert response.status_code == 200
    assert response.json["results"] == [{"name": "generate"}, {"name": "fine_tune"}, {"name": "tools"}]


def test_subject_search_lists_organisations_that_may_use_a_model(client, session, world, pep):
    make_org(session, "freebie", "free")
    make_org(session, "paused", "internal")
    update_org(session, "paused", actor="test", suspended=True)

    response = client.post("/access/v1/search/subject", headers=pep, json={
        "subject": {"type": "organisation"}, "action": {"name": "generate"},
        "resource": {"type": "model", "id": "chat-standard"}})

    assert response.status_code == 200
    assert response.json["results"] == [
        {"type": "organisation", "id": "acme", "properties": {"tier": "verified"}},
        {"type": "organisation", "id": "bigco", "properties": {"tier": "trusted"}},
    ]


def test_subject_search_lists_keys_and_leaves_out_revoked_and_capped(client, session, world, pep):
    capped = make_key(session, "bigco", tier_cap="free")
    revoked = make_key(session, "bigco")
    revoke_key(session, prefix(revoked), actor="test")

    response = client.post("/access/v1/search/subject", headers=pep, json={
        "subject": {"type": "api_key"}, "action": {"name": "generate"},
        "resource": {"type": "model", "id": "frontier-1"}})

    ids = [r["id"] for r in response.json["results"]]
    assert ids == [prefix(world["bigco"])]
    assert prefix(capped) not in ids


def test_subject_search_for_identities_is_empty_until_identities_exist(client, world, pep):
    response = client.post("/access/v1/search/subject", headers=pep, json={
        "subject": {"type": "identity"}, "action": {"name": "generate"},
        "resource": {"type": "model", "id": "open-7b"}})

    assert response.status_code == 200
    assert response.json == {"results": [], "page": {"next_token": "", "count": 0, "total": 0}}


def test_search_pages_walk_every_result_once(client, session, world, pep):
    for n in range(5):
        make_org(session, f"org-{n}", "trusted")
    query = {"subject": {"type": "organisation"}, "action": {"name": "generate"},
             "resource": {"type": "model", "id": "open-7b"}}
    seen, token, pages = [], "", 0
    while True:
        page: dict[str, Any] = {"limit": 2, **({"token": token} if token else {})}
        response = client.post("/access/v1/search/subject", headers=pep, json={**query, "page": page})
        assert response.status_code == 200
        seen += [r["id"] for r in response.json["results"]]
        pages += 1
        token = response.json["page"]["next_token"]
        if not token:
            break

    assert seen == ["acme", "bigco", "org-0", "org-1", "org-2", "org-3", "org-4"]
    assert pages == 4


@pytest.mark.parametrize("limit", [0, 1001, 10**9])
def test_out_of_range_limit_is_served_and_paged_not_refused(client, session, world, pep, limit):
    for n in range(3):
        make_org(session, f"org-{n}", "trusted")
    response = client.post("/access/v1/search/subject", headers=pep, json={
        "subject": {"type": "organisation"}, "action": {"name": "generate"},
        "resource": {"type": "model", "id": "open-7b"}, "page": {"limit": limit}})

    assert response.status_code == 200
    assert [r["id"] for r in response.json["results"]] == ["acme", "bigco", "org-0", "org-1", "org-2"]
    assert response.json["page"] == {"next_token": "", "count": 5, "total": 5}


def test_limit_over_the_maximum_is_served_as_the_maximum_then_the_token_continues():
    items = list(range(1500))

    first, token = search.page(items, token=None, limit=5000, query_fingerprint="q")
    rest, last = search.page(items, token=token, limit=5000, query_fingerprint="q")

    assert (len(first), len(rest), last) == (1000, 500, "")
    assert first + rest == items


def test_limit_zero_is_served_as_the_default_page():
    chunk, token = search.page(list(range(250)), token=None, limit=0, query_fingerprint="q")

    assert len(chunk) == 100
    assert token


def test_a_negative_limit_is_refused(client, world, pep):
    # Paginated Requests: "limit: a non-negative integer".
    response = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"},
        "page": {"limit": -5}})

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def test_a_token_sent_with_another_limit_is_refused(client, world, pep):
    # Paginated Requests: pagination parameters must stay identical; the PDP should return an error.
    asked = {"subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"}}
    first = client.post("/access/v1/search/resource", headers=pep, json={**asked, "page": {"limit": 1}})
    token = first.json["page"]["next_token"]

    same = client.post("/access/v1/search/resource", headers=pep,
                       json={**asked, "page": {"limit": 1, "token": token}})
    changed = client.post("/access/v1/search/resource", headers=pep,
                          json={**asked, "page": {"limit": 2, "token": token}})

    assert token and same.status_code == 200
    assert changed.status_code == 400
    assert changed.json["code"] == "invalid_page_token"


@pytest.mark.parametrize(("page", "code"), [
    ({"token": "not-a-token"}, "invalid_page_token"),
    ({"token": 12}, "invalid_field"),
    ({"limit": "10"}, "invalid_field"),
    ("first", "invalid_field"),
])
def test_bad_page_is_a_400(client, world, pep, page, code):
    response = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"},
        "page": page})

    assert response.status_code == 400
    assert response.json["code"] == code


def test_token_of_another_search_is_refused(client, world, pep):
    first = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"},
        "page": {"limit": 1}})
    token = first.json["page"]["next_token"]

    response = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "tools"}, "resource": {"type": "model"},
        "page": {"token": token}})

    assert token
    assert response.status_code == 400
    assert response.json["code"] == "invalid_page_token"


@pytest.mark.parametrize(("endpoint", "body", "code"), [
    ("resource", {"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model"}},
     "missing_field"),
    ("resource", {"subject": {"type": "organisation"}, "action": {"name": "g"},
                  "resource": {"type": "model"}}, "missing_field"),
    ("action", {"subject": {"type": "organisation", "id": "a"}, "resource": {"type": "model"}},
     "missing_field"),
    ("subject", {"subject": {"type": "organisation"}, "action": {"name": "g"}}, "missing_field"),
    ("subject", {"subject": {}, "action": {"name": "g"}, "resource": {"type": "model", "id": "m"}},
     "missing_field"),
])
def test_malformed_search_is_a_400(client, world, pep, endpoint, body, code):
    response = client.post(f"/access/v1/search/{endpoint}", json=body,
                           headers={**pep, "X-Request-ID": "s-1"})

    assert response.status_code == 400
    assert response.json["code"] == code
    assert response.headers["X-Request-ID"] == "s-1"


@pytest.mark.parametrize("endpoint", ["resource", "action", "subject"])
def test_search_needs_a_pep_key(client, world, endpoint):
    body = {"subject": acme_key(world), "action": {"name": "generate"},
            "resource": {"type": "model", "id": "open-7b"}}

    response = client.post(f"/access/v1/search/{endpoint}", json=body, headers=bearer(world["acme"]))

    assert response.status_code == 401
    assert response.json["code"] == "key_wrong_kind"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_search_leaves_no_decision_rows(client, session, world, pep):
    client.post("/access/v1/search/resource", headers=pep, json={
        "subject": acme_key(world), "action": {"name": "generate"}, "resource": {"type": "model"}})

    assert rows(session) == []


# -- discovery -------------------------------------------------------------------------------------


def test_every_advertised_endpoint_answers_post(client, world, pep):
    metadata = client.get("/.well-known/authzen-configuration").json

    for name, url in metadata.items():
        if name.endswith("_endpoint"):
            path = url.removeprefix(metadata["policy_decision_point"])
            assert client.post(path, json={}, headers=pep).status_code == 400, name


# -- the pep key and /v1/models --------------------------------------------------------------------


def test_admin_api_issues_a_pep_key_that_evaluates(client, world, admin):
    created = client.post("/v1/admin/keys", json={"kind": "pep", "name": "envoy-1"}, headers=admin)

    assert created.status_code == 201
    assert (created.json["kind"], created.json["name"], created.json["organisation"]) == (
        "pep", "envoy-1", None)
    response = client.post("/access/v1/evaluation", json=ask(acme_key(world), "open-7b", "generate"),
                           headers=bearer(created.json["key"]))
    assert response.json["decision"] is True


@pytest.mark.parametrize(("body", "code"), [
    ({"kind": "pep"}, "invalid_name"),
    ({"kind": "admin", "organisation": "acme"}, "invalid_field"),
])
def test_admin_api_refuses_bad_key_kinds(client, world, admin, body, code):
    response = client.post("/v1/admin/keys", json=body, headers=admin)

    assert response.status_code == 400
    assert response.json["code"] == code


def test_models_lists_only_what_the_calling_key_may_use(client, world):
    response = client.get("/v1/models", headers=bearer(world["acme"]))

    assert response.status_code == 200
    assert response.json == {"object": "list", "data": [
        {"id": "chat-standard", "object": "model", "owned_by": "govern", "group": "standard",
         "capabilities": ["generate"]},
        {"id": "open-7b", "object": "model", "owned_by": "govern", "group": "open",
         "capabilities": ["generate", "tools"]},
    ]}


def test_models_filters_by_capability(client, world):
    response = client.get("/v1/models?capability=tools", headers=bearer(world["acme"]))

    assert [m["id"] for m in response.json["data"]] == ["open-7b"]


@pytest.mark.parametrize(("credential", "code"), [(None, "key_missing"), ("pep", "key_wrong_kind")])
def test_models_needs_a_client_key(client, world, credential, code):
    response = client.get("/v1/models", headers=bearer(world[credential]) if credential else {})

    assert response.status_code == 401
    assert response.json["code"] == code
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


# -- rate limits ------------------------------------------------------------------------------------
def test_evaluations_about_a_subject_count_with_its_own_checks(client, session, world, pep):
    # verified: 3 decisions a minute per organisation, whichever way they are asked.
    limits = {"verified": {"organisation": {"per_minute": 3}}}
    change_policy(session, lambda raw: raw.update(rate_limits=limits), actor=ACTOR, comment="limits")
    own = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                      headers=bearer(world["acme"])).json
    batch = client.post("/access/v1/evaluations", headers=pep, json={"evaluations": [
        ask(acme_key(world), "chat-standard", "generate"),
        ask({"type": "organisation", "id": "acme"}, "chat-standard", "generate"),
        ask(acme_key(world), "chat-standard", "generate")]}).json
    assert own["allow"] is True
    assert [e["decision"] for e in batch["evaluations"]] == [True, True, False]
    assert batch["evaluations"][2]["context"]["reason"] == "rate_limited"
    # Another organisation's subject is counted apart.
    other = client.post("/access/v1/evaluation", headers=pep,
                        json=ask({"type": "api_key", "id": prefix(world["bigco"])}, "chat-standard",
                                 "generate"))
    assert other.json["decision"] is True
    limited = [row for row in rows(session) if row.reason == "rate_limited"]
    assert [(row.key_prefix, row.pep_prefix is not None) for row in limited] == [
        (prefix(world["acme"]), True)]


def test_evaluations_count_against_a_model_groups_limit_too(client, session, world, pep):
    # verified: 1 decision a minute about the standard group per organisation; open-7b is apart.
    limits = {"verified": {"model_groups": {"standard": {"organisation": {"per_minute": 1}}}}}
    change_policy(session, lambda raw: raw.update(rate_limits=limits), actor=ACTOR, comment="limits")
    batch = client.post("/access/v1/evaluations", headers=pep, json={"evaluations": [
        ask(acme_key(world), "chat-standard", "generate"),
        ask({"type": "organisation", "id": "acme"}, "chat-standard", "generate"),
        ask(acme_key(world), "open-7b", "generate")]}).json
    assert [e["context"]["reason"] == "rate_limited" for e in batch["evaluations"]] == [False, True, False]
    own = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                      headers=bearer(world["acme"])).json
    assert own["reason"] == "rate_limited"
