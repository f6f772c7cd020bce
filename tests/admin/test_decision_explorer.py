"""The decision-log explorer in the admin UI: signed in through /login, an auditor filters the log,
pages back through it, opens a decision and the policy version that produced it, and downloads a
signed export. Visitors who are not signed in go to the login page; other roles get a 403."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from factories import insert_decisions, make_governed_model, make_org

START = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)
DECISION_LINK = re.compile(r'href="/decisions/([0-9a-f]{26})"')


def shown(client, **query: str) -> list[str]:
    """The decision ids listed on the explorer page, top to bottom."""
    response = client.get("/decisions", query_string=query)
    assert response.status_code == 200
    return DECISION_LINK.findall(response.get_data(as_text=True))


@pytest.fixture
def log(session) -> dict[str, list[str]]:
    """acme (verified) asks six times, globex (free) is denied frontier-1 three times, and the
    identity sara (a bearer token) twice."""
    acme, globex = make_org(session, "acme", "verified"), make_org(session, "globex", "free")
    return {
        "acme": insert_decisions(session, 6, start=START, org_id=acme, key_prefix="gvk_aaaaaaaaaaaa"),
        "globex": insert_decisions(session, 3, start=START + timedelta(minutes=10), org_id=globex,
                                   key_prefix="gvk_bbbbbbbbbbbb", tier="free", model="frontier-1",
                                   allow=False, reason="tier_too_low", policy_version=2),
        "sara": insert_decisions(session, 2, start=START + timedelta(minutes=20), org_id=None,
                                 key_prefix=None, issuer="https://idp.example.org", subject="sara"),
    }


@pytest.fixture
def auditor_client(client, ui_login):
    ui_login(client, "audrey", frozenset({"auditor"}))
    return client


def test_unfiltered_log_is_newest_first(auditor_client, log):
    assert shown(auditor_client) == list(reversed(log["acme"] + log["globex"] + log["sara"]))


@pytest.mark.parametrize(("query", "expected"), [
    ({"org": "globex"}, ["globex"]),
    ({"subject": "sara"}, ["sara"]),
    ({"key_prefix": "gvk_aaaaaaaaaaaa"}, ["acme"]),
    ({"tier": "free"}, ["globex"]),
    ({"model": "frontier-1"}, ["globex"]),
    ({"capability": "generate"}, ["acme", "globex", "sara"]),
    ({"result": "deny"}, ["globex"]),
    ({"result": "allow"}, ["acme", "sara"]),
    ({"reason": "tier_too_low"}, ["globex"]),
    ({"model": "open-7b"}, []),
])
def test_each_filter_narrows_the_log(auditor_client, log, query, expected):
    assert shown(auditor_client, **query) == list(reversed([i for who in expected for i in log[who]]))


def test_time_range_and_organisation_id(auditor_client, log, session):
    found = shown(auditor_client, since="2030-06-01T09:00:02", until="2030-06-01T09:00:05Z", org="1")

    assert found == list(reversed(log["acme"][2:5]))


def test_unknown_organisation_is_said_on_the_page(auditor_client, log):
    response = auditor_client.get("/decisions?org=initech")

    assert response.status_code == 200
    assert "no organisation &#39;initech&#39;" in response.get_data(as_text=True)
    assert DECISION_LINK.findall(response.get_data(as_text=True)) == []


def test_keyset_pages_walk_back_through_the_log(auditor_client, session):
    made = insert_decisions(session, 120, start=START)
    seen: list[str] = []
    url = "/decisions?model=chat-standard"
    while url:
        html = auditor_client.get(url).get_data(as_text=True)
        seen += DECISION_LINK.findall(html)
        match = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else ""

    assert seen == list(reversed(made))
    assert len(seen) == 120  # three pages of 50, 50, 20


def test_a_decision_links_its_policy_version(auditor_client, log):
    page = auditor_client.get(f"/decisions/{log['globex'][0]}").get_data(as_text=True)

    assert 'href="/policy-versions/2"' in page
    assert "tier_too_low" in page
    assert "the model is not under governance; the policy alone decided" in page
    version = auditor_client.get("/policy-versions/1")
    assert version.status_code == 200
    assert "Policy version 1" in version.get_data(as_text=True)
    as_json = auditor_client.get("/policy-versions/1?format=json").json
    assert as_json["version"] == 1
    assert as_json["document"]["tiers"] == ["free", "verified", "trusted", "internal"]


def test_a_decision_about_a_governed_model_links_its_governance_records(auditor_client, session, log):
    model = make_governed_model(session, "frontier-1", group="frontier")

    page = auditor_client.get(f"/decisions/{log['globex'][0]}").get_data(as_text=True)

    assert f'href="/models/{model.id}"' in page
    assert "is under governance" in page


def test_export_from_the_explorer_is_listed_with_its_manifest(auditor_client, log):
    response = auditor_client.get("/decisions/export?format=csv&org=globex")
    body = response.get_data(as_text=True)
    export_id = response.headers["X-Govern-Export-Id"]

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert len(body.splitlines()) == 4  # header and globex's three decisions
    listing = auditor_client.get("/exports").get_data(as_text=True)
    assert f'href="/exports/{export_id}/manifest.json"' in listing
    manifest = auditor_client.get(f"/exports/{export_id}/manifest.json").json
    assert (manifest["row_count"], manifest["exported_by"]) == (3, "user:audrey")
    assert manifest["filters"] == {"org_id": 2}


def test_not_signed_in_goes_to_the_login_page(client):
    response = client.get("/decisions")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_a_reviewer_may_not_open_the_explorer(client, ui_login):
    ui_login(client, "rita", frozenset({"reviewer"}))

    response = client.get("/decisions")

    assert response.status_code == 403
    assert response.json["code"] == "role_required"


def test_the_decision_log_is_in_the_navigation_of_those_who_may_read_it(client, ui_login):
    ui_login(client, "audrey", frozenset({"auditor"}))
    assert 'href="/decisions">Decisions</a>' in client.get("/dashboard").get_data(as_text=True)


def test_the_decision_log_is_not_offered_to_a_reviewer(client, ui_login):
    ui_login(client, "rita", frozenset({"reviewer"}))
    assert 'href="/decisions"' not in client.get("/dashboard").get_data(as_text=True)
