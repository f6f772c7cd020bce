"""The playground over HTTP: the page (admins and auditors, CSRF, form errors) and its admin API."""

from __future__ import annotations

import io
import json

import pytest
from factories import ACTOR, add_models, make_key, make_org, make_user_key
from sqlalchemy import func, select

from govern.models import AuditEvent, Decision
from govern.policy.store import change_policy, current_policy


@pytest.fixture
def acme(session):  # type: ignore[no-untyped-def]
    add_models(session)
    make_org(session, "acme", "verified")


def ask(client, token, **fields):  # type: ignore[no-untyped-def]
    data = {"caller": "organisation", "organisation": "acme", "model": "chat-standard",
            "capability": "generate", "csrf_token": token(client, "/playground"), **fields}
    return client.post("/playground", data=data)


def test_an_admin_sees_the_answer_reason_and_rule(signed_in, token, acme):
    client = signed_in("ada", "admin")
    page = ask(client, token).get_data(as_text=True)
    assert '<span class="badge allow">allow</span> generate on chat-standard' in page
    assert ("<code>granted_by_tier</code>: a grant to the caller&#39;s tier (or a tier below it) "
            "allows this") in page
    assert "<code>p, verified, standard, generate, allow</code>" in page


def test_an_auditor_may_ask(signed_in, token, acme):
    client = signed_in("aud", "auditor")
    assert client.get("/playground").status_code == 200
    response = ask(client, token, caller="tier", tier="free", model="frontier-1")
    assert response.status_code == 200
    assert "<code>tier_too_low</code>" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["reviewer", "approver", "board"])
def test_other_roles_are_refused(signed_in, token, acme, role):
    client = signed_in("someone", role)
    assert client.get("/playground").status_code == 403


def test_a_post_without_csrf_token_is_refused(signed_in, acme):
    client = signed_in("ada", "admin")
    response = client.post("/playground", data={"caller": "tier", "tier": "free", "model": "open-7b",
                                                 "capability": "generate"})
    assert response.status_code == 400
    assert "badge allow" not in response.get_data(as_text=True)


def test_an_unknown_key_is_a_message_on_the_form(signed_in, token, acme):
    client = signed_in("ada", "admin")
    response = ask(client, token, caller="key", key="gvk_000000000000")
    assert response.status_code == 400
    assert "no key with prefix &#39;gvk_000000000000&#39;" in response.get_data(as_text=True)


def test_claims_that_are_not_json_are_a_message_next_to_the_field(signed_in, token, acme):
    client = signed_in("ada", "admin")
    response = ask(client, token, caller="issuer", claims="{groups: x")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_data(as_text=True)


def test_a_pasted_draft_is_asked_instead_of_the_live_policy(signed_in, token, acme, session):
    document = current_policy(session).document
    draft = {**document, "grants": [{"tier": "free", "target": "standard", "capability": "generate"}]}
    client = signed_in("ada", "admin")
    page = ask(client, token, draft=json.dumps(draft)).get_data(as_text=True)
    assert "the draft (not stored)" in page
    assert "<code>p, free, standard, generate, allow</code>" in page


def test_an_uploaded_draft_is_asked_instead_of_the_live_policy(signed_in, token, acme, session):
    document = current_policy(session).document
    draft = {**document, "grants": [{"tier": "free", "target": "standard", "capability": "generate"}]}
    client = signed_in("ada", "admin")
    upload = (io.BytesIO(json.dumps(draft).encode()), "draft.json")
    page = ask(client, token, draft_file=upload).get_data(as_text=True)
    assert "the draft (not stored)" in page
    assert "<code>p, free, standard, generate, allow</code>" in page


def test_an_uploaded_file_that_is_not_json_is_a_message_on_the_form(signed_in, token, acme):
    client = signed_in("ada", "admin")
    response = ask(client, token, draft_file=(io.BytesIO(b"tiers: [free]"), "draft.yaml"))
    assert response.status_code == 400
    assert "the uploaded draft is not a JSON object of at most 1 MB" in response.get_data(as_text=True)


def test_an_organisation_shows_the_counters_of_its_keys(signed_in, token, acme, session):
    change_policy(session, lambda raw: raw.update(rate_limits={
        "verified": {"per_minute": 5, "organisation": {"per_day": 40}}}), actor=ACTOR, comment="limits")
    prefix = make_key(session, "acme")[:16]
    page = ask(signed_in("ada", "admin"), token).get_data(as_text=True)
    assert ("Tier verified: each key or identity 5 per minute, no limit per day;\n"
            "    all the keys of one organisation together no limit per minute, 40 per day.") in page
    assert f"<tr><td><code>{prefix}</code></td><td>per minute</td><td>5 of 5</td>" in page
    assert "<tr><td><code>organisation acme</code></td><td>per day</td><td>40 of 40</td>" in page


def test_a_draft_that_is_no_policy_is_a_message_on_the_form(signed_in, token, acme):
    client = signed_in("ada", "admin")
    response = ask(client, token, draft=json.dumps({"tiers": "nope"}))
    assert response.status_code == 400
    assert 'class="notice danger"' in response.get_data(as_text=True)


def test_asking_through_the_page_records_nothing(signed_in, token, acme, session):
    client = signed_in("ada", "admin")
    token(client, "/playground")
    session.rollback()
    before = [session.execute(select(func.count()).select_from(table)).scalar_one()
              for table in (Decision, AuditEvent)]
    assert ask(client, token).status_code == 200
    session.rollback()
    assert [session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (Decision, AuditEvent)] == before


def test_the_nav_links_to_the_playground_for_auditors(signed_in, acme):
    page = signed_in("aud", "auditor").get("/dashboard").get_data(as_text=True)
    assert 'href="/playground">Playground</a>' in page


# -- the admin API ---------------------------------------------------------------------------------
def test_the_api_answers_with_the_facts(client, session, acme):
    secret = make_key(session, "acme")
    headers = {"Authorization": f"Bearer {make_user_key(session, 'ada')}"}
    response = client.post("/v1/admin/playground", headers=headers,
                           json={"key": secret[:16], "model": "chat-standard", "capability": "generate"})
    assert response.status_code == 200
    body = response.json
    assert (body["allow"], body["reason"], body["rule"], body["draft"]) == (
        True, "granted_by_tier", "p, verified, standard, generate, allow", False)
    assert body["caller"]["kind"] == "key" and body["caller"]["tier"] == "verified"
    assert (body["governance"], body["rate_limit"], body["counters"]) == (None, None, [])


def test_the_api_is_for_admins_and_auditors(client, session, acme):
    question = {"tier": "free", "model": "open-7b", "capability": "generate"}
    auditor = {"Authorization": f"Bearer {make_user_key(session, 'aud', frozenset({'auditor'}))}"}
    reviewer = {"Authorization": f"Bearer {make_user_key(session, 'rev', frozenset({'reviewer'}))}"}
    assert client.post("/v1/admin/playground", headers=auditor, json=question).status_code == 200
    refused = client.post("/v1/admin/playground", headers=reviewer, json=question)
    assert (refused.status_code, refused.json["code"]) == (403, "role_required")
    assert client.post("/v1/admin/playground", json=question).status_code == 401


def test_the_api_refuses_a_question_with_two_callers(client, session, acme):
    headers = {"Authorization": f"Bearer {make_user_key(session, 'ada')}"}
    response = client.post("/v1/admin/playground", headers=headers,
                           json={"tier": "free", "organisation": "acme", "model": "open-7b",
                                 "capability": "generate"})
    assert (response.status_code, response.json["code"]) == (400, "invalid_question")


def test_the_api_answers_an_unknown_organisation_with_404(client, session, acme):
    headers = {"Authorization": f"Bearer {make_user_key(session, 'ada')}"}
    response = client.post("/v1/admin/playground", headers=headers,
                           json={"organisation": "nobody", "model": "open-7b", "capability": "generate"})
    assert (response.status_code, response.json["code"]) == (404, "org_not_found")


def test_the_api_from_a_signed_in_session_needs_the_csrf_token(signed_in, token, acme):
    client = signed_in("ada", "admin")
    question = {"tier": "free", "model": "open-7b", "capability": "generate"}
    refused = client.post("/v1/admin/playground", json=question)
    assert (refused.status_code, refused.json["code"]) == (400, "csrf_invalid")
    answered = client.post("/v1/admin/playground", json=question,
                           headers={"X-CSRFToken": token(client, "/playground")})
    assert (answered.status_code, answered.json["allow"]) == (200, True)
