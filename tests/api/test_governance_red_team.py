"""The governance API for red-team exercises and findings keeps the UI's rules: the reporter of a
high finding cannot accept it, by any of their accounts; acceptance needs a rationale; a reopened
finding blocks the sign-off again."""

from __future__ import annotations

from typing import Any

import pytest
from factories import make_governed_model, make_user_key, ready_sign_off
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from govern.errors import Conflict
from govern.governance.registry import find_model
from govern.governance.reviews import record_review
from govern.identity.people import account_named, link_account

RED_TEAM = "/v1/governance/models/gov-model/red-team"
EXERCISE = {"scope": "jailbreaks of the chat endpoint", "started_on": "2026-11-02", "ended_on": "2026-11-20",
            "participants": [{"user": "rhea"}, {"name": "Eve Ext", "organisation": "Red Co"}]}
FINDING = {"title": "DAN prompt", "category": "jailbreak", "severity": "high"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def people(session: Session) -> dict[str, dict[str, str]]:
    """rhea reports (reviewer; rhea-sso is her second account), vera is another reviewer; the model
    is rated medium and recommended for verified by two other reviewers."""
    keys = {name: bearer(make_user_key(session, name, frozenset({"reviewer"})))
            for name in ("rhea", "rhea-sso", "vera")}
    link_account(session, actor="test:setup", user_id=account_named(session, "rhea-sso").id,
                 person_id=account_named(session, "rhea").person_id)
    model = make_governed_model(session, post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="safe")
    return keys


def report(client: FlaskClient, reporter: dict[str, str], **finding: Any) -> int:
    made = client.post(f"{RED_TEAM}/exercises", json=EXERCISE, headers=reporter)
    assert made.status_code == 201, made.json
    found = client.post(f"/v1/governance/red-team/exercises/{made.json['id']}/findings",
                        json={**FINDING, **finding}, headers=reporter)
    assert found.status_code == 201, found.json
    return int(found.json["id"])


def test_an_exercise_and_its_finding_are_recorded_and_block_the_sign_off(client, session, people):  # type: ignore[no-untyped-def]
    finding = report(client, people["rhea"])
    listed = client.get(RED_TEAM, headers=people["vera"]).json
    exercise = listed["exercises"][0]
    assert (exercise["scope"], exercise["started_on"], exercise["ended_on"]) == (
        "jailbreaks of the chat endpoint", "2026-11-02", "2026-11-20")
    assert exercise["participants"] == [
        {"user": "user:rhea", "name": "rhea", "organisation": "", "kind": "internal"},
        {"user": None, "name": "Eve Ext", "organisation": "Red Co", "kind": "external"}]
    assert [(f["id"], f["status"], f["reported_by"]) for f in exercise["findings"]] == [
        (finding, "open", "user:rhea")]
    assert (listed["blocking"], listed["blocks_sign_off"]) == (
        [{"id": finding, "title": "DAN prompt", "severity": "high", "version": "1.0"}], True)


def test_the_reporter_cannot_accept_through_either_of_her_accounts(client, session, people):  # type: ignore[no-untyped-def]
    finding = report(client, people["rhea"])
    accept = f"/v1/governance/red-team/findings/{finding}/accept"
    for who in ("rhea", "rhea-sso"):
        refused = client.post(accept, json={"rationale": "mine, and fine"}, headers=people[who])
        assert (refused.status_code, refused.json["code"]) == (403, "separation_of_duties")
    done = client.post(accept, json={"rationale": "needs an insider; monitored"}, headers=people["vera"])
    assert (done.status_code, done.json["status"], done.json["resolved_by"]) == (200, "accepted", "user:vera")
    assert client.get(RED_TEAM, headers=people["vera"]).json["blocks_sign_off"] is False


def test_acceptance_needs_a_rationale_and_a_reviewer(client, session, people, admin, auditor):  # type: ignore[no-untyped-def]
    finding = report(client, people["rhea"])
    accept = f"/v1/governance/red-team/findings/{finding}/accept"
    for body, code in (({"rationale": "   "}, "missing_rationale"), ({}, "missing_field")):
        refused = client.post(accept, json=body, headers=people["vera"])
        assert (refused.status_code, refused.json["code"]) == (400, code)
    as_admin = client.post(accept, json={"rationale": "ship it"}, headers=admin)
    assert (as_admin.status_code, as_admin.json["code"]) == (403, "role_required")
    as_auditor = client.post(accept, json={"rationale": "ship it"}, headers=auditor)
    assert (as_auditor.status_code, as_auditor.json["code"]) == (403, "role_required")
    assert client.get(f"/v1/governance/red-team/findings/{finding}", headers=auditor).json["status"] == "open"


def test_mitigated_unblocks_and_reopened_blocks_the_sign_off_again(client, session, people):  # type: ignore[no-untyped-def]
    finding = report(client, people["rhea"], severity="critical")
    base = f"/v1/governance/red-team/findings/{finding}"
    assert client.post(f"{base}/mitigate", json={"mitigation": " "}, headers=people["rhea"]).json["code"] == (
        "missing_mitigation")
    assert client.post(f"{base}/mitigate", json={"mitigation": "classifier v3"},
                       headers=people["rhea"]).json["status"] == "mitigated"
    again = client.post(f"{base}/mitigate", json={"mitigation": "x"}, headers=people["rhea"])
    assert (again.status_code, again.json["code"]) == (409, "finding_not_open")
    assert client.post(f"{base}/reopen", json={"reason": "bypassed with base64"},
                       headers=people["vera"]).json["status"] == "open"
    session.expire_all()
    with pytest.raises(Conflict, match=f"#{finding} 'DAN prompt' \\(critical, found in 1.0\\)"):
        ready_sign_off(session, actor="user:boss", model=find_model(session, "gov-model"), tier="verified")


def test_a_finding_on_another_model_does_not_block(client, session, people):  # type: ignore[no-untyped-def]
    make_governed_model(session, "other-model")
    made = client.post("/v1/governance/models/other-model/red-team/exercises", json=EXERCISE,
                       headers=people["rhea"]).json
    client.post(f"/v1/governance/red-team/exercises/{made['id']}/findings",
                json={**FINDING, "severity": "critical"}, headers=people["rhea"])
    assert client.get(RED_TEAM, headers=people["vera"]).json["blocking"] == []
    assert client.get("/v1/governance/models/other-model/red-team",
                      headers=people["vera"]).json["blocks_sign_off"] is True


def test_bad_input_and_unknown_ids_are_problems(client, session, people, auditor):  # type: ignore[no-untyped-def]
    cases = [
        ("POST", f"{RED_TEAM}/exercises", {**EXERCISE, "started_on": "2026-13-01"}, people["rhea"],
         400, "invalid_field"),
        ("POST", f"{RED_TEAM}/exercises", {**EXERCISE, "started_on": None}, people["rhea"], 400,
         "missing_field"),
        ("POST", f"{RED_TEAM}/exercises", {**EXERCISE, "participants": [{"user": "nobody"}]}, people["rhea"],
         400, "unknown_participant"),
        ("POST", f"{RED_TEAM}/exercises", EXERCISE, auditor, 403, "role_required"),
        ("POST", "/v1/governance/models/nope/red-team/exercises", EXERCISE, people["rhea"], 404,
         "model_not_found"),
        ("POST", "/v1/governance/red-team/exercises/999/findings", FINDING, people["rhea"], 404,
         "exercise_not_found"),
        ("GET", "/v1/governance/red-team/findings/99999999999", None, auditor, 404, "finding_not_found"),
    ]
    for method, url, body, headers, status, code in cases:
        answer = client.open(url, method=method, json=body, headers=headers)
        assert (answer.status_code, answer.json["code"]) == (status, code), url
