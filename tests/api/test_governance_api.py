"""The governance API (/v1/governance) keeps the UI's rules, because it calls the same services:
nobody reviews their own rating or approves what they rated or reviewed (with any account of
theirs), a quorum of distinct reviewers, a reversal holds until fresh reviews and the board's
release, the UI's roles; and the deployment check says why a release may not go out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from databases import copy_database
from factories import (
    CATEGORIES_2023,
    complete_checklist,
    make_escalation_path,
    make_governed_model,
    make_key,
    make_pep_key,
    make_signed_model,
    make_user_key,
    set_rate_limits,
)
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from govern.governance.registry import find_model, register_version, retire_model
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.identity.people import account_named, link_account
from govern.models import AuditEvent, SignOff

API = "/v1/governance/models"
RATIONALE = "the evals hold"
NOT_RATED = ("the scorecard is not deployable: not rated yet: CBRN (chemical, biological, radiological, "
             "nuclear), Cybersecurity, Persuasion, Model autonomy")
CHECKLIST_OPEN = ("checklist_incomplete",
                  "the launch checklist is not complete: Red-team testing done (open); Content filters in "
                  "place (open); Rate limiting enabled (open); Logging and monitoring active (open); A human "
                  "escalation path defined (open); An incident response plan ready (open); A user-feedback "
                  "mechanism (open); Regular safety audits scheduled (open)")
# Who acts here, with their roles; rita2 is a second account of rita's, rev1b of rev1's.
PEOPLE = {"rita": {"reviewer"}, "rev1": {"reviewer"}, "rev2": {"reviewer"}, "boss": {"approver"},
          "bea": {"board"}, "rita2": {"approver"}, "rev1b": {"approver"}, "bob": {"board", "approver"}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def governance_template(api_template: tuple[str, dict[str, str]],
                        tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """(database URL, username -> key): the API template plus the people above, made once."""
    url = copy_database(api_template[0], tmp_path_factory.mktemp("governance-template"))
    engine = create_engine(url)
    with Session(engine) as session:
        made = {name: make_user_key(session, name, frozenset(roles)) for name, roles in PEOPLE.items()}
        for second, first in (("rita2", "rita"), ("rev1b", "rev1")):
            link_account(session, actor="test:factory", user_id=account_named(session, second).id,
                         person_id=account_named(session, first).person_id)
        # What the launch checklist's live checks look for, besides the model's own items.
        set_rate_limits(session)
        make_escalation_path(session, "never-delivered-" + "x" * 40)  # seals a secret no test unseals
    engine.dispose()
    return url, made


@pytest.fixture
def database_url(instance: Path, governance_template: tuple[str, dict[str, str]]) -> str:
    return copy_database(governance_template[0], instance)


@pytest.fixture
def keys(governance_template: tuple[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {name: bearer(key) for name, key in governance_template[1].items()}


def rate_all(client: FlaskClient, headers: dict[str, str], name: str = "gov-model",
             post: str = "medium") -> None:
    for category in CATEGORIES_2023:
        answer = client.post(f"{API}/{name}/ratings", headers=headers, json={
            "category": category, "pre_level": "high", "post_level": post, "evidence": "eval report",
            "links": "https://evals.example/report"})
        assert answer.status_code == 201, answer.json


def recommend(client: FlaskClient, headers: dict[str, str], tier: str = "verified", name: str = "gov-model"):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/{name}/reviews", headers=headers,
                       json={"recommendation": "open", "tier": tier, "rationale": RATIONALE})


def sign(client: FlaskClient, headers: dict[str, str], tier: str = "verified", name: str = "gov-model",
         **extra: object):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/{name}/sign-offs", headers=headers, json={"tier": tier, **extra})


def problem(answer) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return answer.status_code, answer.json["code"]


@pytest.fixture
def rated(client: FlaskClient, session, admin, keys):  # type: ignore[no-untyped-def]
    """gov-model registered by alice (admin) through the API and rated medium by rita."""
    answer = client.post(API, headers=admin, json={"name": "gov-model", "version": "1.0", "owner": "team",
                                                   "model_group": "standard"})
    assert answer.status_code == 201
    assert (answer.json["gate"]["status"], answer.json["open_from"]) == ("unrated", "internal")
    rate_all(client, keys["rita"])
    complete_checklist(session, find_model(session, "gov-model"))


# -- the rules of the UI, through the API -----------------------------------------------------------
def test_the_rater_cannot_review_their_own_rating(client, keys, rated):
    assert problem(recommend(client, keys["rita"])) == (403, "separation_of_duties")
    assert recommend(client, keys["rev1"]).status_code == 201


def test_the_rater_cannot_sign_off_with_another_account_of_theirs(client, keys, rated):
    for reviewer in ("rev1", "rev2"):
        assert recommend(client, keys[reviewer]).status_code == 201
    refused = sign(client, keys["rita2"])
    assert problem(refused) == (403, "separation_of_duties")
    assert refused.json["message"] == "separation of duties: you rated this model, so you cannot approve it"
    assert sign(client, keys["rita2"], check_only=True).status_code == 403


def test_a_reviewer_cannot_sign_off_with_another_account_of_theirs(client, keys, rated):
    for reviewer in ("rev1", "rev2"):
        assert recommend(client, keys[reviewer]).status_code == 201
    refused = sign(client, keys["rev1b"])
    assert problem(refused) == (403, "separation_of_duties")
    assert refused.json["message"] == ("separation of duties: you reviewed this model, so you cannot "
                                       "approve it")
    assert sign(client, keys["boss"], check_only=True).json == {
        "would_sign_off": True, "model": "gov-model", "version": "1.0", "tier": "verified", "ends_hold": None}
    made = sign(client, keys["boss"])
    assert (made.status_code, made.json["approver"], made.json["tier"]) == (201, "user:boss", "verified")


def test_one_person_reviewing_from_two_accounts_is_no_quorum(client, session, keys, rated):
    assert recommend(client, keys["rev1"]).status_code == 201
    # rev1b holds only the approver role: the reviewer account is the person's only way to review.
    assert problem(recommend(client, keys["rev1b"])) == (403, "role_required")
    refused = sign(client, keys["boss"])
    assert problem(refused) == (409, "quorum_not_met")
    assert refused.json["message"] == ("the Safety Advisory Group has not recommended opening to verified: "
                                       "2 distinct reviewers must recommend verified or a lower tier")
    assert session.execute(select(SignOff)).first() is None


def test_after_a_reversal_the_hold_holds_until_fresh_reviews_and_the_boards_release(client, keys, rated):
    for reviewer in ("rev1", "rev2"):
        recommend(client, keys[reviewer])
    signed = sign(client, keys["boss"]).json["id"]
    reversal = client.post(f"{API}/gov-model/sign-offs/{signed}/reverse", headers=keys["bea"],
                           json={"rationale": "missed a jailbreak"})
    assert reversal.status_code == 200
    assert reversal.json["model"]["open_from"] == "internal"
    assert reversal.json["model"]["hold"]["waiting_for"] == [
        "2 reviews recommending to open recorded after it (0 so far)", "a board member's release"]
    assert problem(sign(client, keys["boss"])) == (409, "held")
    for reviewer in ("rev1", "rev2"):
        recommend(client, keys[reviewer])
    still = sign(client, keys["boss"])
    assert problem(still) == (409, "held")
    assert still.json["message"].endswith(": needs a board member's release")
    release = client.post(f"{API}/gov-model/hold/release", headers=keys["bob"], json={"rationale": "fixed"})
    assert (release.status_code, release.json["hold"]["released_by"]) == (200, "user:bob")
    # The board member who released the hold cannot approve as well.
    assert problem(sign(client, keys["bob"])) == (403, "separation_of_duties")
    again = sign(client, keys["boss"])
    assert again.status_code == 201
    assert client.get(f"{API}/gov-model", headers=keys["bea"]).json["hold"] is None


def test_roles_are_those_of_the_ui(client, admin, auditor, keys, rated):
    for reviewer in ("rev1", "rev2"):
        recommend(client, keys[reviewer])
    assert problem(sign(client, keys["rev2"])) == (403, "role_required")  # a reviewer
    signed = sign(client, keys["boss"]).json["id"]
    assert problem(client.post(f"{API}/gov-model/sign-offs/{signed}/reverse", headers=keys["boss"],
                               json={"rationale": "no"})) == (403, "role_required")  # an approver
    assert problem(client.post(f"{API}/gov-model/hold/release", headers=keys["boss"],
                               json={"rationale": "no"})) == (403, "role_required")
    assert problem(client.post(f"{API}/gov-model/suspension", headers=keys["rev1"],
                               json={"reason": "no"})) == (403, "role_required")
    assert problem(client.post(API, headers=auditor, json={})) == (403, "role_required")
    assert problem(recommend(client, admin)) == (403, "role_required")
    assert client.get(f"{API}/gov-model", headers=auditor).json["sign_off"]["id"] == signed


def test_an_unauthenticated_or_wrong_kind_of_key_is_refused(client, session):
    make_governed_model(session)
    client_key, pep = make_key(session, "acme", tier="verified"), make_pep_key(session)
    assert problem(client.get(f"{API}/gov-model/deployable?tier=free")) == (401, "key_missing")
    for key in (client_key, pep):
        assert client.get(f"{API}/gov-model/deployable?tier=free", headers=bearer(key)).status_code == 401


def test_a_rating_made_in_the_ui_bars_its_rater_from_reviewing_in_the_api(client, session, ui_login):
    model = make_governed_model(session)
    token = ui_login(client, "uma", frozenset({"reviewer"}))
    for category in CATEGORIES_2023:
        page = client.post(f"/models/{model.id}/scorecard", data={
            "csrf_token": token, "category": category, "pre_level": "high", "post_level": "low",
            "evidence": "red team"})
        assert page.status_code == 302
    uma = bearer(make_user_key(session, "uma-ci", frozenset({"reviewer"})))
    link_account(session, actor="test:factory", user_id=account_named(session, "uma-ci").id,
                 person_id=account_named(session, "uma").person_id)
    assert problem(recommend(client, uma)) == (403, "separation_of_duties")
    # The signed-in session itself may call the API, with the CSRF token a change needs.
    assert problem(client.post(f"{API}/gov-model/reviews", json={"recommendation": "reject",
                                                                "rationale": "x"})) == (400, "csrf_invalid")
    answer = client.post(f"{API}/gov-model/reviews", headers={"X-CSRFToken": token},
                         json={"recommendation": "reject", "rationale": "x"})
    assert problem(answer) == (403, "separation_of_duties")


def test_every_change_through_the_api_is_in_the_audit_trail(client, session, admin, keys, rated):
    recommend(client, keys["rev1"])
    client.post(f"{API}/gov-model/suspension", headers=admin, json={"reason": "abuse wave"})
    client.post(f"{API}/gov-model/suspension/lift", headers=keys["boss"], json={"reason": "contained"})
    client.post(f"{API}/gov-model/versions", headers=admin, json={"version": "2.0"})
    client.post(f"{API}/gov-model/retirement", headers=admin, json={"reason": "replaced"})
    session.expire_all()
    events = [(e.actor, e.action) for e in session.execute(
        select(AuditEvent).where(AuditEvent.target == "model:gov-model").order_by(AuditEvent.id)).scalars()]
    assert events == [("user:alice", "model.register"), *[("user:rita", "model.rate")] * 4,
                      *[("test:factory", "model.checklist_item")] * 8, ("user:rev1", "model.review"),
                      ("user:alice", "model.suspend"),
                      ("user:boss", "model.lift_suspension"), ("user:alice", "model.register"),
                      ("user:alice", "model.retire")]


def test_bad_input_is_a_problem_naming_it(client, admin, keys, rated):
    model = {"name": "gov-model", "version": "1", "owner": "t", "model_group": "standard"}
    bad_name = client.post(API, headers=admin, json={**model, "name": "x y"})
    assert problem(bad_name) == (400, "invalid_model_name")
    assert problem(client.post(API, headers=admin, json=model)) == (409, "model_exists")
    assert problem(client.post(f"{API}/gov-model/ratings", headers=keys["rev1"], json={
        "category": "cbrn", "pre_level": "high", "post_level": "low", "evidence": "e",
        "links": "javascript:alert(1)"})) == (400, "invalid_link")
    assert problem(client.post(f"{API}/gov-model/reviews", headers=keys["rev1"], json={
        "recommendation": "open", "rationale": "x" * 10_001})) == (400, "invalid_field")
    assert problem(sign(client, keys["boss"], expires_at="2000-01-01T00:00:00Z")) == (400, "expiry_in_past")
    assert problem(client.get(f"{API}/nothing-here", headers=admin)) == (404, "model_not_found")
    assert problem(client.post(f"{API}/gov-model/sign-offs/99/reverse", headers=keys["bea"],
                               json={"rationale": "x"})) == (404, "sign_off_not_found")


# -- the deployment check ---------------------------------------------------------------------------
def deployable(client: FlaskClient, headers: dict[str, str], query: str, name: str = "gov-model"):  # type: ignore[no-untyped-def]
    answer = client.get(f"{API}/{name}/deployable?{query}", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def reasons(answer: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(reason["code"], reason["message"]) for reason in answer["reasons"]]


def test_a_signed_off_model_may_go_out_to_its_tier_and_above_only(client, session, auditor):
    _model, signed = make_signed_model(session, tier="verified")
    for tier in ("verified", "trusted", "internal"):
        answer = deployable(client, auditor, f"tier={tier}")
        assert (answer["deployable"], answer["reasons"], answer["sign_off"]["id"]) == (True, [], signed.id)
    free = deployable(client, auditor, "tier=free")
    assert (free["deployable"], free["model"], free["version"], free["tier"], free["sign_off"]) == (
        False, "gov-model", "1.0", "free", None)
    assert reasons(free) == [
        ("tier_not_covered", f"sign-off #{signed.id} opens verified and above, not free")]
    assert reasons(deployable(client, auditor, "tier=gold")) == [
        ("unknown_tier", "'gold' is not a tier; tiers are free, verified, trusted, internal")]


def test_an_unrated_model_is_not_deployable_but_the_top_tier_reaches_it(client, session, auditor):
    make_governed_model(session)
    assert reasons(deployable(client, auditor, "tier=trusted")) == [
        ("gate", NOT_RATED), CHECKLIST_OPEN, ("not_signed_off", "gov-model 1.0 has no sign-off")]
    assert deployable(client, auditor, "tier=internal")["deployable"] is True


def test_a_suspended_model_is_deployable_nowhere(client, session, auditor):
    model, _signed = make_signed_model(session)
    suspend_model(session, actor="user:boss", model=model, reason="abuse wave")
    for tier in ("verified", "internal"):
        assert reasons(deployable(client, auditor, f"tier={tier}")) == [
            ("suspended", "gov-model is suspended: every tier is denied (abuse wave)")]


def test_a_reversed_sign_off_leaves_the_model_held(client, session, auditor):
    model, signed = make_signed_model(session)
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="missed it")
    found = reasons(deployable(client, auditor, "tier=verified"))
    assert [code for code, _ in found] == ["held", "reversed"]
    assert found[0][1].endswith(": needs 2 reviews recommending verified or a lower tier recorded after it "
                                "(0 so far) and a board member's release")
    assert found[1][1] == f"sign-off #{signed.id} was reversed by user:bea"


def test_an_expired_sign_off_is_not_in_force(client, session, auditor):
    _model, signed = make_signed_model(session)
    # As if by time passing (or by a direct edit of the row): the check reads the row as it is.
    signed.expires_at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    session.commit()
    assert reasons(deployable(client, auditor, "tier=verified")) == [
        ("expired", f"sign-off #{signed.id} expired on 2025-01-02 03:04 UTC")]


def test_a_new_rating_above_the_threshold_closes_the_gate(client, session, auditor, keys):
    make_signed_model(session)
    client.post(f"{API}/gov-model/ratings", headers=keys["rev2"], json={
        "category": "cbrn", "pre_level": "high", "post_level": "high", "evidence": "new uplift eval"})
    assert reasons(deployable(client, auditor, "tier=verified")) == [
        ("gate", "the scorecard is not deployable: CBRN (chemical, biological, radiological, nuclear) above "
                 "medium after mitigation: deployment needs medium or below")]


def test_a_retired_or_superseded_version_may_not_go_out(client, session, auditor):
    model, _signed = make_signed_model(session)
    second = register_version(session, actor="user:alice", model=model, version="2.0")
    assert reasons(deployable(client, auditor, "tier=internal&version=1.0")) == [
        ("superseded", "gov-model 1.0 has been followed by version 2.0")]
    assert reasons(deployable(client, auditor, "tier=verified&version=0.9")) == [
        ("unknown_version", "gov-model has no version '0.9'")]
    newest = deployable(client, auditor, "tier=verified")
    assert (newest["version"], reasons(newest)) == (
        "2.0", [("gate", NOT_RATED), CHECKLIST_OPEN, ("not_signed_off", "gov-model 2.0 has no sign-off")])
    retire_model(session, actor="user:alice", model=second, reason="withdrawn")
    assert reasons(deployable(client, auditor, "tier=internal")) == [
        ("retired", "gov-model 2.0 is retired: closed to every tier (withdrawn)")]


def test_strict_answers_409_with_the_same_reasons(client, session, auditor):
    make_signed_model(session, tier="trusted")
    refused = client.get(f"{API}/gov-model/deployable?tier=verified&strict=1", headers=auditor)
    assert problem(refused) == (409, "not_deployable")
    assert (refused.json["deployable"], [r["code"] for r in refused.json["reasons"]]) == (
        False, ["tier_not_covered"])
    assert refused.json["message"].startswith("gov-model may not go out to verified: sign-off #")
    assert client.get(f"{API}/gov-model/deployable?tier=trusted&strict=1", headers=auditor).status_code == 200
    assert problem(client.get(f"{API}/gov-model/deployable", headers=auditor)) == (400, "invalid_field")
    unknown = client.get(f"{API}/nope/deployable?tier=free", headers=auditor)
    assert problem(unknown) == (404, "model_not_found")
