"""The governance API's checklist and re-review endpoints apply the model page's rules: the same
services, the same separation of duties between people, the same live checks."""

from __future__ import annotations

from factories import make_governed_model, make_signed_model, make_user_key

from govern.identity.people import account_named, link_account


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_checklist_answers_each_item_with_its_live_check_now(client, session, auditor):  # type: ignore[no-untyped-def]
    make_governed_model(session, "gov-model", post="medium")
    answer = client.get("/v1/governance/models/gov-model/checklist?tier=trusted", headers=auditor)
    assert answer.status_code == 200
    body = answer.json
    assert (body["checklist"], body["tier"], body["complete"]) == ("default", "trusted", False)
    rate = next(item for item in body["items"] if item["item"] == "rate_limiting")
    assert rate == {"item": "rate_limiting", "title": "Rate limiting enabled", "state": "open", "owner": None,
                    "evidence": "", "check": "rate_limits", "check_passed": False,
                    "check_detail": "no rate limit for trusted, internal in the policy", "complete": False,
                    "missing_reason": "open"}
    escalation = next(item for item in body["items"] if item["item"] == "escalation_path")
    assert escalation["check_detail"] == ("nobody receives incident.opened by e-mail; "
                                          "no enabled webhook takes incident.opened")


def test_an_item_is_recorded_by_a_reviewer_under_the_services_rules(client, session, auditor):  # type: ignore[no-untyped-def]
    make_governed_model(session, "gov-model", post="medium")
    reviewer = bearer(make_user_key(session, "rhea", frozenset({"reviewer"})))
    url = "/v1/governance/models/gov-model/checklist/red_team"
    done = client.put(url, json={"state": "done", "owner": "audrey", "evidence": "RT-7"}, headers=reviewer)
    assert done.status_code == 200
    assert (done.json["state"], done.json["owner"], done.json["updated_by"]) == ("done", "user:audrey",
                                                                                 "user:rhea")
    missing = client.put(url, json={"state": "done", "owner": "audrey"}, headers=reviewer)
    assert (missing.status_code, missing.json["code"]) == (400, "missing_evidence")
    assert client.put(url, json={"state": "open"}, headers=auditor).status_code == 403
    unknown = client.put("/v1/governance/models/gov-model/checklist/nope", json={"state": "open"},
                         headers=reviewer)
    assert (unknown.status_code, unknown.json["code"]) == (400, "unknown_checklist_item")


def test_a_re_review_by_another_account_of_the_approver_is_refused_as_on_the_page(client, session):  # type: ignore[no-untyped-def]
    make_user_key(session, "boss", frozenset({"approver"}))
    make_signed_model(session, "gov-model", approver="user:boss")
    other = bearer(make_user_key(session, "boss-at-idp", frozenset({"reviewer"})))
    link_account(session, actor="user:admin", user_id=account_named(session, "boss-at-idp").id,
                 person_id=account_named(session, "boss").person_id)
    url = "/v1/governance/models/gov-model/re-reviews"
    refused = client.post(url, json={"recommendation": "continue", "rationale": "fine"}, headers=other)
    assert (refused.status_code, refused.json["code"]) == (403, "separation_of_duties")
    reviewer = bearer(make_user_key(session, "rhea", frozenset({"reviewer"})))
    made = client.post(url, json={"recommendation": "continue", "rationale": "fine"}, headers=reviewer)
    assert (made.status_code, made.json["reviewer"], made.json["recommendation"]) == (201, "user:rhea",
                                                                                      "continue")
    listed = client.get(url, headers=reviewer).json
    assert listed["schedule"]["state"] == "scheduled"
    assert [r["id"] for r in listed["re_reviews"]] == [made.json["id"]]


def test_a_model_not_deployed_has_no_schedule_and_takes_no_re_review(client, session):  # type: ignore[no-untyped-def]
    make_governed_model(session, "gov-model", post="medium")
    reviewer = bearer(make_user_key(session, "rhea", frozenset({"reviewer"})))
    url = "/v1/governance/models/gov-model/re-reviews"
    assert client.get(url, headers=reviewer).json["schedule"] is None
    refused = client.post(url, json={"recommendation": "continue", "rationale": "fine"}, headers=reviewer)
    assert (refused.status_code, refused.json["code"]) == (409, "not_deployed")
