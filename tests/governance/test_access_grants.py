"""Access requests as services: who may decide, how a grant is applied, when it ends, and that a
grant written behind govern's back is named by the live-state check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import ACTOR, add_models, make_org
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from govern.audit.live_state import check_live_state
from govern.decisions.playground import Question as PlaygroundQuestion
from govern.decisions.playground import explain
from govern.errors import Conflict, Forbidden
from govern.governance import access_requests, proposals
from govern.governance.access_requests import Requester
from govern.governance.grants import Grant, Grants
from govern.identity.sso_accounts import sign_in_identity
from govern.identity.users import create_user
from govern.models import AccessRequest, AuditEvent
from govern.models.base import utcnow

ISSUER = "https://login.corp.example"
PASSWORD = "a-long-password-123"


def admin(session: Session, name: str) -> str:
    create_user(session, actor=ACTOR, username=name, password=PASSWORD, roles=frozenset({"admin"}))
    return f"user:{name}"


def ask(session: Session, requester: Requester, **overrides: object) -> int:
    options: dict[str, object] = {"kind": "capability", "model": "frontier-1", "capability": "generate",
                                  "justification": "a pilot", "duration_seconds": 600, **overrides}
    return access_requests.create_request(session, requester, **options).id  # type: ignore[arg-type]


@pytest.fixture
def acme(session: Session) -> Requester:
    add_models(session)
    return Requester(actor="key:gvk_000000000001", tier="verified", org_id=make_org(session, "acme"))


def actions(session: Session, request_id: int) -> list[tuple[str, str]]:
    session.expire_all()
    return [(e.actor, e.action) for e in session.execute(select(AuditEvent).where(
        AuditEvent.target == f"access_request:{request_id}").order_by(AuditEvent.id)).scalars()]


def test_a_capability_request_asks_for_the_lowest_tier_that_allows_it(session, acme):
    info = access_requests.get_request(session, ask(session, acme))
    assert (info.kind, info.tier, info.model, info.capability, info.state) == (
        "capability", "trusted", "frontier-1", "generate", "pending")


def test_a_model_grant_covers_every_capability_of_the_model(session, acme):
    info = access_requests.get_request(session, ask(session, acme, kind="model", tier="internal"))
    assert (info.tier, info.model, info.capability) == ("internal", "frontier-1", None)


def test_with_a_single_admin_the_grant_applies_alone_and_is_flagged(session, acme):
    alice = admin(session, "alice")
    request_id = ask(session, acme)
    info = access_requests.approve(session, request_id, actor=alice)
    assert info.state == "granted"
    assert info.expires_at is not None and info.granted_at is not None
    assert info.expires_at - info.granted_at == timedelta(seconds=600)
    assert proposals.get_proposal(session, info.proposal_id).route == "single_person"
    assert actions(session, request_id) == [("key:gvk_000000000001", "access_request.create"),
                                            (alice, "access_request.decide")]


def test_two_admins_grant_it_and_the_first_cannot_be_the_second(session, acme):
    alice, bob = admin(session, "alice"), admin(session, "bob")
    request_id = ask(session, acme)
    assert access_requests.approve(session, request_id, actor=alice).state == "pending"
    with pytest.raises(Forbidden) as refused:
        access_requests.approve(session, request_id, actor=alice)
    assert refused.value.code == "own_proposal"
    assert access_requests.approve(session, request_id, actor=bob).state == "granted"
    with pytest.raises(Conflict):
        access_requests.approve(session, request_id, actor=bob)


def test_nobody_approves_a_request_their_own_identity_made(session):
    add_models(session)
    alice = admin(session, "alice")
    sam = sign_in_identity(session, issuer=ISSUER, subject="sam-1", username="sam",
                           roles=frozenset({"admin"}))
    asking = Requester(actor=f"identity:{ISSUER} sam-1", tier="verified", issuer=ISSUER, subject="sam-1")
    request_id = ask(session, asking)
    with pytest.raises(Forbidden) as refused:
        access_requests.approve(session, request_id, actor=f"user:{sam.username}")
    assert refused.value.code == "own_access_request"
    # Nor as the second admin, by approving the proposal directly rather than the request.
    proposal_id = access_requests.approve(session, request_id, actor=alice).proposal_id
    assert proposal_id is not None
    with pytest.raises(Forbidden) as again:
        proposals.approve(session, proposal_id, actor=f"user:{sam.username}")
    assert again.value.code == "own_access_request"
    session.expire_all()
    assert session.get(AccessRequest, request_id).state == "pending"


def test_a_grant_ends_at_its_expiry_whenever_it_was_loaded():
    grants = Grants({7: (Grant(1, "trusted", "frontier-1", "generate", expires_at=1000.0),)})
    assert list(grants.tiers(7, "frontier-1", "generate", 999.9)) == ["trusted"]
    assert list(grants.tiers(7, "frontier-1", "generate", 1000.0)) == []
    assert list(grants.tiers(7, "frontier-1", "tools", 999.9)) == []
    assert list(grants.tiers(8, "frontier-1", "generate", 999.9)) == []
    # A capability grant does not raise the caller's tier for its rate limit or anything else.
    assert list(grants.tiers(7, None, None, 999.9)) == []


def test_an_expiry_is_recorded_once_when_seen(session, acme):
    alice = admin(session, "alice")
    request_id = ask(session, acme)
    access_requests.approve(session, request_id, actor=alice)
    session.execute(update(AccessRequest).where(AccessRequest.id == request_id)
                    .values(expires_at=utcnow() - timedelta(seconds=1)))
    # (The trail says otherwise now; only the expiry's event is under test here.)
    session.commit()
    assert access_requests.get_request(session, request_id).status == "expired"
    access_requests.list_requests(session)
    assert [a for _, a in actions(session, request_id)].count("access_request.expire") == 1


def test_grants_made_through_govern_agree_with_the_trail(session, acme):
    alice = admin(session, "alice")
    access_requests.approve(session, ask(session, acme), actor=alice)
    access_requests.reject(session, ask(session, acme, kind="tier", tier="internal"), actor=alice,
                           reason="no")
    ask(session, acme, kind="tier", tier="trusted")
    assert check_live_state(session).problems == []


def test_a_grant_written_or_lengthened_behind_govern_is_named(session, acme):
    alice = admin(session, "alice")
    granted = ask(session, acme)
    access_requests.approve(session, granted, actor=alice)
    forged = ask(session, acme, kind="tier", tier="internal")
    later = utcnow() + timedelta(days=365)
    session.execute(update(AccessRequest).where(AccessRequest.id == granted).values(expires_at=later))
    session.execute(update(AccessRequest).where(AccessRequest.id == forged)
                    .values(state="granted", granted_at=utcnow(), expires_at=later))
    session.commit()
    found = check_live_state(session).problems
    assert any(p.startswith(f"access_request {granted}: expires_at is") for p in found)
    assert f"access_request {forged}: state is 'granted' but the trail says 'pending'" in found


def test_too_many_pending_requests_are_refused(session, acme):
    for _ in range(access_requests.MAX_PENDING):
        ask(session, acme)
    with pytest.raises(Conflict) as refused:
        ask(session, acme)
    assert refused.value.code == "too_many_pending"


def test_the_playground_answers_as_the_decision_endpoints_under_a_grant(session, acme):
    asked = PlaygroundQuestion("frontier-1", "generate", organisation="acme")
    assert explain(session, asked).allow is False
    access_requests.approve(session, ask(session, acme), actor=admin(session, "alice"))
    granted = explain(session, asked)
    assert (granted.allow, granted.verdict.tier) == (True, "trusted")
    assert explain(session, PlaygroundQuestion("frontier-1", "tools", organisation="acme")).allow is False
