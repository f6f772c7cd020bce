"""The decision-log explorer in the admin UI: signed in through /login, an auditor filters the log,
pages back through it, opens a decision and the policy version that produced it, and downloads a
signed export. Visitors who are not signed in go to the login page; other roles get a 403."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from factories import (
    insert_decisions,
    make_governed_model,
    make_key,
    make_org,
    make_signed_model,
    ready_sign_off,
    report_usage,
)

from govern.decisions.runtime import Question
from govern.governance.holds import release_hold
from govern.governance.registry import register_version
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.identity.organisations import update_org

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


def test_a_decision_shows_the_usage_reported_for_it(auditor_client, session, log):
    report_usage(session, log["acme"][0], 1200, 350, "0.0042")

    page = auditor_client.get(f"/decisions/{log['acme'][0]}").get_data(as_text=True)
    unreported = auditor_client.get(f"/decisions/{log['acme'][1]}").get_data(as_text=True)

    assert re.search(r"<th>input tokens</th><td>1200</td>", page)
    assert re.search(r"<th>output tokens</th><td>350</td>", page)
    assert "0.004200000 USD" in page
    assert "No usage has been reported for this decision" in unreported


def test_a_deny_shows_no_usage_section(auditor_client, log):
    page = auditor_client.get(f"/decisions/{log['globex'][0]}").get_data(as_text=True)

    assert "What it used" not in page


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


def decide(app, key: str, model: str) -> str:  # type: ignore[no-untyped-def]
    """One check through the decision runtime, on the governance in force now; its decision id."""
    runtime = app.extensions["govern.runtime"].get()
    runtime.refresh()
    (outcome,) = runtime.check(key, [Question(model, "generate")], request_id=None,
                               started=time.perf_counter())
    return str(outcome.decision_id)


def test_a_decision_links_its_sign_off_approver_reviews_and_scorecard_revision(app, auditor_client,
                                                                               session):
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")

    page = auditor_client.get(f"/decisions/{decide(app, key, 'gpt-x')}").get_data(as_text=True)

    assert f'<tr><th>sign_off_id</th><td>{signed.id}</td></tr>' in page
    assert '<tr><th>org_name</th><td>acme</td></tr>' in page
    assert f'href="/models/{model.id}#sign-off-{signed.id}">sign-off #{signed.id}</a>' in page
    assert 'href="/audit?actor=user:boss">user:boss</a>' in page
    # Four categories rated one after the other: the sign-off is of scorecard revision 4.
    assert f'href="/models/{model.id}/scorecard#revision-4">revision 4</a>' in page
    for reviewer in ("user:rev1", "user:rev2"):
        assert f'href="/audit?actor={reviewer}">{reviewer}</a>' in page
        assert f"{reviewer} finds it safe for verified" in page
    assert "open to verified+" in page
    assert f'href="/models/{model.id}/timeline"' in page


def test_a_decision_names_the_model_version_it_was_signed_under(app, auditor_client, session):
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")
    under_old = decide(app, key, "gpt-x")
    register_version(session, actor="user:ada", model=model, version="2.0")
    under_new = decide(app, key, "gpt-x")

    old_page = auditor_client.get(f"/decisions/{under_old}").get_data(as_text=True)
    assert f'sign-off #{signed.id}</a>\n    of <a href="/models/{model.id}">gpt-x 1.0</a>' in old_page
    new_page = auditor_client.get(f"/decisions/{under_new}").get_data(as_text=True)
    assert "no sign-off was in force for it when this decision was made" in new_page


def test_the_links_of_a_decision_lead_to_the_records_they_name(app, auditor_client, session):
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")
    decide(app, key, "gpt-x")

    model_page = auditor_client.get(f"/models/{model.id}").get_data(as_text=True)
    scorecard = auditor_client.get(f"/models/{model.id}/scorecard").get_data(as_text=True)
    approver = auditor_client.get("/audit?actor=user:boss").get_data(as_text=True)

    assert f'<tr id="sign-off-{signed.id}">' in model_page
    assert '<tr id="revision-4">' in scorecard
    assert "Audit trail of user:boss" in approver
    assert "<code>model.sign_off</code>" in approver
    assert "<code>model.review</code>" not in approver  # the reviewers' events are theirs


def test_a_decision_after_the_reversal_names_no_sign_off(app, auditor_client, session):
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")
    under = decide(app, key, "gpt-x")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="risk")
    after = decide(app, key, "gpt-x")

    after_page = auditor_client.get(f"/decisions/{after}").get_data(as_text=True)
    under_page = auditor_client.get(f"/decisions/{under}").get_data(as_text=True)

    assert "no sign-off was in force for it when this decision was made" in after_page
    assert "sign-off #" not in after_page
    # The earlier decision still names its sign-off, and says it was reversed since.
    assert f"sign-off #{signed.id}</a>" in under_page
    assert 'reversed by <a href="/audit?actor=user:board">user:board</a>' in under_page


def test_the_explorer_shows_the_organisation_name_recorded_with_the_decision(app, auditor_client,
                                                                              session):
    key = make_key(session, "acme", tier="verified")
    make_signed_model(session, "gpt-x")
    decide(app, key, "gpt-x")
    update_org(session, "acme", actor="user:alice", name="acme-holdings")

    listing = auditor_client.get("/decisions").get_data(as_text=True)

    assert "<td>acme</td>" in listing
    assert "acme-holdings" not in listing


def test_a_decision_naming_a_sign_off_no_longer_on_record_says_so(auditor_client, session):
    """A sign-off row deleted behind govern's back: the page keeps the id the decision recorded."""
    [made] = insert_decisions(session, 1, start=START, model="gpt-x", sign_off_id=999)

    page = auditor_client.get(f"/decisions/{made}").get_data(as_text=True)

    assert "made under sign-off #999, which is no longer on record" in page


def test_a_sign_off_after_a_reversal_shows_the_fresh_reviews_and_the_release(app, auditor_client,
                                                                             session):
    key = make_key(session, "acme", tier="verified")
    model, first = make_signed_model(session, "gpt-x")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=first.id, rationale="risk")
    for reviewer in ("user:rev3", "user:rev4"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale=f"{reviewer}: mitigated")
    release_hold(session, actor="user:bea", model=model, rationale="study reviewed")
    second = ready_sign_off(session, actor="user:boss2", model=model, tier="verified")

    page = auditor_client.get(f"/decisions/{decide(app, key, 'gpt-x')}").get_data(as_text=True)

    assert f"sign-off #{second.id}</a>" in page
    assert 'href="/audit?actor=user:boss2">user:boss2</a>' in page
    assert "user:rev3: mitigated" in page and "user:rev4: mitigated" in page
    # The reviews before the reversal did not count towards this sign-off.
    assert "user:rev1" not in page and "user:rev2" not in page
    assert 'started by <a href="/audit?actor=user:board">user:board</a>' in page
    assert 'released by <a href="/audit?actor=user:bea">user:bea</a>: study reviewed' in page
