"""The governance API for incidents and feedback: an incident run end to end over JSON, with the
UI's rules; and every other entry point that can lift a suspension (admin API for keys and
organisations, the host CLI) refusing while the incident's post-incident review is missing."""

from __future__ import annotations

import pytest
from factories import add_models, make_governed_model, make_key, make_org, make_user_key
from sqlalchemy import select

from govern.identity.keys import issue_key
from govern.identity.people import link_account
from govern.identity.users import create_user
from govern.models import FeedbackReport, User
from govern.models.base import utcnow

BASE = "/v1/governance"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def reviewers(session) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Headers of reviewers rev1 and rev2, and of rev1's second account (same person)."""
    keys = {name: bearer(make_user_key(session, name, frozenset({"reviewer"}))) for name in ("rev1", "rev2")}
    other = create_user(session, actor="test", username="rev1-sso", password="a-long-password-123",
                        roles=frozenset({"reviewer"}))
    link_account(session, actor="user:admin", user_id=other.id,
                 person_id=session.execute(select(User.person_id).where(User.username == "rev1"))
                 .scalar_one())
    keys["rev1-sso"] = bearer(issue_key(session, actor="test", user_id=other.id).secret)
    return keys


def open_incident(client, admin, **body):  # type: ignore[no-untyped-def]
    response = client.post(f"{BASE}/incidents", json={"title": "jailbreak", "severity": "sev2", **body},
                           headers=admin)
    assert response.status_code == 201, response.json
    return response.json


def review_quorum(client, incident_id: int, reviewers) -> None:  # type: ignore[no-untyped-def]
    assert client.patch(f"{BASE}/incidents/{incident_id}", json={"state": "mitigated"},
                        headers=reviewers["rev1"]).status_code == 200
    for name in ("rev1", "rev2"):
        answer = client.post(f"{BASE}/incidents/{incident_id}/reviews", json={"findings": f"{name}: ok"},
                             headers=reviewers[name])
        assert answer.status_code == 201, answer.json


def test_an_incident_runs_end_to_end_over_the_api(client, session, admin, reviewers):  # type: ignore[no-untyped-def]
    make_governed_model(session, "chat-1")
    incident = open_incident(client, admin, models=["chat-1"])
    assert (incident["state"], incident["review_quorum"], incident["timeline"][0]["action"]) == (
        "open", 2, "incident.open")
    url = f"{BASE}/incidents/{incident['id']}"
    kill = {"kind": "model.suspend", "target": "chat-1", "reason": "stop"}
    action = client.post(f"{url}/actions", json=kill,
                         headers=admin)
    assert (action.status_code, action.json["holds"]) == (201, True)
    assert client.patch(url, json={"state": "closed"}, headers=admin).json["code"] == "invalid_transition"

    review_quorum(client, incident["id"], reviewers)
    assert client.patch(url, json={"state": "resolved"}, headers=admin).status_code == 200
    closed = client.patch(url, json={"state": "closed", "note": "done"}, headers=admin)
    assert (closed.status_code, closed.json["state"], closed.json["reviewers"]) == (200, "closed", 2)
    assert [e["action"] for e in closed.json["timeline"]] == [
        "incident.open", "incident.action", "incident.state", "incident.review", "incident.review",
        "incident.state", "incident.state"]


def test_the_api_counts_two_accounts_of_one_person_once(client, session, admin, reviewers):  # type: ignore[no-untyped-def]
    incident = open_incident(client, admin)
    url = f"{BASE}/incidents/{incident['id']}"
    client.patch(url, json={"state": "mitigated"}, headers=admin)
    assert client.post(f"{url}/reviews", json={"findings": "a"}, headers=reviewers["rev1"]).status_code == 201
    again = client.post(f"{url}/reviews", json={"findings": "b"}, headers=reviewers["rev1-sso"])
    assert (again.status_code, again.json["code"]) == (409, "already_reviewed")
    assert client.get(url, headers=admin).json["reviewed_at"] is None


def test_the_review_needs_the_reviewer_role_and_not_the_opener(client, session, admin, reviewers):  # type: ignore[no-untyped-def]
    incident = open_incident(client, reviewers["rev1"])
    url = f"{BASE}/incidents/{incident['id']}"
    client.patch(url, json={"state": "mitigated"}, headers=admin)
    by_admin = client.post(f"{url}/reviews", json={"findings": "a"}, headers=admin)
    by_opener = client.post(f"{url}/reviews", json={"findings": "a"}, headers=reviewers["rev1-sso"])
    assert (by_admin.status_code, by_admin.json["code"]) == (403, "role_required")
    assert (by_opener.status_code, by_opener.json["code"]) == (403, "separation_of_duties")


def test_a_key_held_by_an_incident_is_not_lifted_through_the_admin_api(client, session, admin, reviewers):  # type: ignore[no-untyped-def]
    add_models(session)
    prefix = make_key(session, "acme", tier="verified")[:16]
    incident = open_incident(client, admin, keys=[prefix])
    taken = client.post(f"{BASE}/incidents/{incident['id']}/actions",
                        json={"kind": "key.suspend", "target": prefix}, headers=admin)
    assert taken.status_code == 201
    lift = client.patch(f"/v1/admin/keys/{prefix}", json={"suspended": False}, headers=admin)
    assert (lift.status_code, lift.json["code"]) == (409, "post_incident_review_required")
    assert client.get(f"/v1/admin/keys/{prefix}", headers=admin).json["suspended"] is True
    review_quorum(client, incident["id"], reviewers)
    lifted = client.patch(f"/v1/admin/keys/{prefix}", json={"suspended": False}, headers=admin)
    assert lifted.status_code == 200


def test_an_organisation_held_by_an_incident_is_not_lifted_by_api_or_cli(client, session, admin, govern):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme")
    incident = open_incident(client, admin, organisations=["acme"])
    taken = client.post(f"{BASE}/incidents/{incident['id']}/actions",
                        json={"kind": "org.suspend", "target": "acme"}, headers=admin)
    assert taken.status_code == 201
    lift = client.patch(f"/v1/admin/organisations/{org_id}", json={"suspended": False}, headers=admin)
    assert (lift.status_code, lift.json["code"]) == (409, "post_incident_review_required")
    result = govern("orgs", "update", "acme", "--unsuspend")
    assert result.exit_code != 0
    assert "post-incident review" in result.output
    assert client.get(f"/v1/admin/organisations/{org_id}", headers=admin).json["suspended"] is True


def test_a_report_opens_an_incident_and_another_joins_it(client, session, admin):  # type: ignore[no-untyped-def]
    rows = [FeedbackReport(decision_id=f"{n:026d}", model="chat-1", subject="output", category="abuse",
                           text="bad", reported_by="gvk_0123456789ab", reporter_kind="pep",
                           received_at=utcnow(), state="new",
                           triage_note="") for n in range(3)]
    session.add_all(rows)
    session.commit()
    queue = client.get(f"{BASE}/feedback?state=new", headers=admin)
    assert [r["id"] for r in queue.json["reports"]] == [rows[2].id, rows[1].id, rows[0].id]
    opened = client.post(f"{BASE}/feedback/{rows[0].id}/incident",
                         json={"title": "abuse", "severity": "sev3"},
                         headers=admin)
    assert opened.status_code == 201
    joined = client.post(f"{BASE}/feedback/{rows[1].id}/incident", json={"incident_id": opened.json["id"]},
                         headers=admin)
    assert [r["id"] for r in joined.json["feedback"]] == [rows[1].id, rows[0].id]
    dismissed = client.post(f"{BASE}/feedback/{rows[2].id}/triage", json={"state": "dismissed"},
                            headers=admin)
    assert dismissed.json["state"] == "dismissed"
    assert client.get(f"{BASE}/feedback?state=new", headers=admin).json["reports"] == []


def test_a_model_killed_for_an_incident_is_not_lifted_through_the_governance_api(client, session, admin,
                                                                                 reviewers):  # type: ignore[no-untyped-def]
    # The models API has its own lift route: it goes through the same service, so the same rule.
    make_governed_model(session, "chat-1")
    boss = bearer(make_user_key(session, "boss", frozenset({"approver"})))
    incident = open_incident(client, admin, models=["chat-1"])
    kill = {"kind": "model.suspend", "target": "chat-1", "reason": "stop"}
    acted = client.post(f"{BASE}/incidents/{incident['id']}/actions", json=kill, headers=admin)
    assert acted.status_code == 201
    lift = f"{BASE}/models/chat-1/suspension/lift"
    refused = client.post(lift, json={"reason": "fixed"}, headers=boss)
    assert (refused.status_code, refused.json["code"]) == (409, "post_incident_review_required")
    review_quorum(client, incident["id"], reviewers)
    assert client.post(lift, json={"reason": "fixed"}, headers=boss).status_code == 200
