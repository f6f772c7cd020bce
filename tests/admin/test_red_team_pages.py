"""The Red team page over HTTP: recording an exercise and its findings, the block shown on the
model page, acceptance refused to the reporter (in the UI, and in the API through her other
account), a rating citing an exercise shown as a link on the scorecard."""

from __future__ import annotations

import re

from factories import make_governed_model, make_user_key
from sqlalchemy import select

from govern.identity.people import account_named, link_account
from govern.models import RedTeamExercise, RedTeamFinding

EXERCISE = {"scope": "jailbreaks of the chat endpoint", "started_on": "2026-11-02", "ended_on": "",
            "internal": "rhea", "external": "Eve Ext, Red Co"}


def record(client, session, token, model_id: int, severity: str = "high") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(exercise id, finding id) recorded through the page's forms by the signed-in `client`."""
    url = f"/models/{model_id}/red-team"
    csrf = token(client, url)
    made = client.post(f"{url}/exercises", data={"csrf_token": csrf, **EXERCISE})
    assert made.status_code == 302, made.get_data(as_text=True)
    exercise = session.execute(select(RedTeamExercise.id).order_by(RedTeamExercise.id.desc())).scalar_one()
    prefix = f"finding-{exercise}-"
    found = client.post(f"{url}/exercises/{exercise}/findings", data={
        f"{prefix}csrf_token": csrf, f"{prefix}title": "DAN prompt", f"{prefix}category": "jailbreak",
        f"{prefix}severity": severity, f"{prefix}description": "role-play bypass"})
    assert found.status_code == 302, found.get_data(as_text=True)
    finding = session.execute(select(RedTeamFinding.id).order_by(RedTeamFinding.id.desc())).scalar_one()
    return exercise, finding


def test_a_high_finding_recorded_on_the_page_blocks_and_the_model_page_says_so(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium")
    rhea = signed_in("rhea", "reviewer")
    exercise, finding = record(rhea, session, token, model.id)
    page = rhea.get(f"/models/{model.id}/red-team").get_data(as_text=True)
    assert f"Exercise #{exercise}: 2026-11-02 – ongoing" in page
    assert "rhea (internal); Eve Ext, Red Co (external)" in page
    assert (f'<li><a href="#finding-{finding}">#{finding} &#39;DAN prompt&#39; (high, found in 1.0)</a></li>'
            in page)
    detail = rhea.get(f"/models/{model.id}").get_data(as_text=True)
    assert 'id="red-team-block"' in detail
    assert (f"open red-team findings of high severity or above, until mitigated or accepted by a reviewer "
            f"who did not report them: #{finding} &#39;DAN prompt&#39; (high, found in 1.0)") in detail


def test_the_reporter_cannot_accept_on_the_page_nor_through_the_api_with_her_other_account(  # type: ignore[no-untyped-def]
        signed_in, session, token, client):
    model = make_governed_model(session, post="medium")
    rhea = signed_in("rhea", "reviewer")
    _, finding = record(rhea, session, token, model.id)
    url, prefix = f"/models/{model.id}/red-team/findings/{finding}/accept", f"accept-{finding}-"
    csrf = token(rhea, f"/models/{model.id}/red-team")
    refused = rhea.post(url, data={f"{prefix}csrf_token": csrf, f"{prefix}text": "fine by me"})
    assert refused.status_code == 400
    assert re.search(r'<p class="error">separation of duties: you reported this finding, so you cannot '
                     r"accept it</p>", refused.get_data(as_text=True))

    second = make_user_key(session, "rhea-sso", frozenset({"reviewer"}))
    link_account(session, actor="test:setup", user_id=account_named(session, "rhea-sso").id,
                 person_id=account_named(session, "rhea").person_id)
    by_api = client.post(f"/v1/governance/red-team/findings/{finding}/accept", json={"rationale": "fine"},
                         headers={"Authorization": f"Bearer {second}"})
    assert (by_api.status_code, by_api.json["code"]) == (403, "separation_of_duties")

    vera = signed_in("vera", "reviewer")
    empty = vera.post(url, data={f"{prefix}csrf_token": token(vera, f"/models/{model.id}/red-team"),
                                 f"{prefix}text": ""})
    assert empty.status_code == 400
    accepted = vera.post(url, data={f"{prefix}csrf_token": token(vera, f"/models/{model.id}/red-team"),
                                    f"{prefix}text": "needs an insider; monitored"})
    assert accepted.status_code == 302
    page = vera.get(f"/models/{model.id}/red-team").get_data(as_text=True)
    assert "accepted by user:vera: needs an insider; monitored" in page
    assert "the red team does not block a sign-off" in page


def test_an_auditor_reads_the_page_but_changes_nothing(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    audrey = signed_in("audrey", "auditor")
    page = audrey.get(f"/models/{model.id}/red-team").get_data(as_text=True)
    assert "No red-team exercise of gov-model 1.0 recorded yet." in page
    assert "Record an exercise" not in page
    csrf = token(audrey, f"/models/{model.id}")
    assert audrey.post(f"/models/{model.id}/red-team/exercises",
                       data={"csrf_token": csrf, **EXERCISE}).status_code == 403


def test_a_rating_citing_an_exercise_links_it_on_the_scorecard(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    rhea = signed_in("rhea", "reviewer")
    exercise, _ = record(rhea, session, token, model.id, severity="low")
    url = f"/models/{model.id}/scorecard"
    rated = rhea.post(url, data={"csrf_token": token(rhea, url), "category": "cbrn", "pre_level": "high",
                                 "post_level": "medium", "evidence": "see the red team",
                                 "exercises": [str(exercise)]})
    assert rated.status_code == 302, rated.get_data(as_text=True)
    page = rhea.get(url).get_data(as_text=True)
    assert (f'<a href="/models/{model.id}/red-team#exercise-{exercise}" class="exercise-link">'
            f"red-team exercise #{exercise}</a>") in page
