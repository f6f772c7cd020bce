"""Live state agrees with the trail: a row that decides access (policy version, sign-off, rating,
review, suspension, organisation, key, role grant) edited directly in the database is named by
`govern audit verify`, though the hash chain is intact."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from factories import make_governed_model, make_key, make_org, ready_sign_off
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from govern.audit.live_state import check_live_state
from govern.audit.trail import record_event
from govern.governance.holds import release_hold
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.identity.keys import revoke_key
from govern.identity.users import create_user
from govern.models import AuditEvent, PolicyVersion, RiskRating, SafetyReview, User
from govern.policy.store import current_policy


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """One of everything, made through the services: a signed-off model, an organisation with a
    key, a reviewer."""
    model = make_governed_model(session, name="frontier-1", group="frontier", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="internal",
                      rationale="ok")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="internal")
    make_org(session, "acme", "verified")
    key = make_key(session, "acme")
    user = create_user(session, actor="test:factory", username="rita", password="a-long-password-123",
                       roles=frozenset({"reviewer"}))
    return {"model": model, "sign_off": signed, "key_prefix": "_".join(key.split("_", 2)[:2]),
            "user": user}


def tamper(session: Session, statement: Any, **params: Any) -> None:
    session.execute(text(statement) if isinstance(statement, str) else statement, params)
    session.commit()
    session.expire_all()


def problems(session: Session) -> list[str]:
    return check_live_state(session).problems


def test_rows_made_through_govern_agree_with_the_trail(world, session):  # type: ignore[no-untyped-def]
    found = check_live_state(session)

    assert found.problems == []
    # 1 policy version (frontier-1 is in the default policy), the model, 4 ratings, 2 reviews,
    # 1 sign-off, 1 organisation, 1 key, 1 user
    assert found.rows == 15  # 13, and the factory's launch-ready setup (rate limits, checklist owner)


def test_an_edited_sign_off_tier_is_named(world, session):  # type: ignore[no-untyped-def]
    tamper(session, "UPDATE sign_off SET tier = 'free' WHERE id = :id", id=world["sign_off"].id)

    assert problems(session) == [
        f"sign_off {world['sign_off'].id} of model frontier-1: tier is 'free' but the trail says 'internal'"]


def test_an_undone_reversal_is_named(world, session):  # type: ignore[no-untyped-def]
    reverse_sign_off(session, actor="user:board", model=world["model"], sign_off_id=world["sign_off"].id,
                     rationale="unsafe")
    event_id = session.execute(select(AuditEvent.id).where(
        AuditEvent.action == "model.reverse_sign_off")).scalar_one()
    tamper(session, "UPDATE sign_off SET reversed_at = NULL, reversed_by = NULL WHERE id = :id",
           id=world["sign_off"].id)

    assert problems(session) == [
        f"sign_off {world['sign_off'].id} of model frontier-1: reversed_at is empty but the trail says "
        f"user:board reversed it (event {event_id})"]


def test_a_hold_deleted_behind_govern_is_named(world, session):  # type: ignore[no-untyped-def]
    reverse_sign_off(session, actor="user:board", model=world["model"], sign_off_id=world["sign_off"].id,
                     rationale="unsafe")
    assert problems(session) == []
    tamper(session, "DELETE FROM governance_hold")

    (problem,) = problems(session)
    assert problem.startswith("governance_hold 1 of model frontier-1 is in the trail (event ")
    assert problem.endswith(") but its row is missing")


def test_a_hold_met_and_ended_through_govern_agrees_with_the_trail(world, session):  # type: ignore[no-untyped-def]
    model = world["model"]
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=world["sign_off"].id,
                     rationale="unsafe")
    release_hold(session, actor="user:board2", model=model, rationale="mitigated")
    for reviewer in ("user:rev3", "user:rev4"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="internal",
                      rationale="fresh look")
    ready_sign_off(session, actor="user:boss2", model=model, tier="internal")

    assert problems(session) == []
    tamper(session, "UPDATE governance_hold SET ended_by_sign_off_id = NULL")
    assert problems(session) == [
        "governance_hold 1 of model frontier-1: ended_by_sign_off is empty but the trail says 2"]


def test_a_hold_released_behind_govern_is_named(world, session):  # type: ignore[no-untyped-def]
    reverse_sign_off(session, actor="user:board", model=world["model"], sign_off_id=world["sign_off"].id,
                     rationale="unsafe")
    tamper(session, "UPDATE governance_hold SET released_by = 'user:mallory'")

    assert problems(session) == [
        "governance_hold 1 of model frontier-1: released_by is 'user:mallory' but the trail says empty"]


def test_a_deleted_newest_sign_off_is_named(world, session):  # type: ignore[no-untyped-def]
    sign_off_id = world["sign_off"].id
    tamper(session, "DELETE FROM sign_off WHERE id = :id", id=sign_off_id)

    (problem,) = problems(session)
    assert problem.startswith(f"sign_off {sign_off_id} of model frontier-1 is in the trail (event ")
    assert problem.endswith(") but its row is missing")


def test_a_sign_off_inserted_behind_govern_is_named(world, session):  # type: ignore[no-untyped-def]
    tamper(session, "INSERT INTO sign_off (model_id, approver, tier, conditions, revision, created_at) "
                    "SELECT model_id, 'user:mallory', 'free', '', revision, created_at FROM sign_off")

    assert problems(session) == [f"sign_off {world['sign_off'].id + 1} of model frontier-1: the trail has "
                                 "no model.sign_off event for it"]


def test_an_edited_policy_version_is_named(world, session):  # type: ignore[no-untyped-def]
    row = current_policy(session)
    document = {**row.document, "tiers": ["internal", "free", "verified", "trusted"]}
    tamper(session, update(PolicyVersion).where(PolicyVersion.version == row.version)
           .values(document=document))

    (problem,) = problems(session)
    assert problem.startswith(
        f"policy_version {row.version}: tiers differ from the trail's policy.change event ")


def test_an_edited_casbin_model_is_named_once_events_record_its_hash(world, session):  # type: ignore[no-untyped-def]
    # A policy change recorded with the model's SHA-256 (as sha256sum prints it) beside the document.
    row = current_policy(session)
    session.add(PolicyVersion(version=row.version + 1, document=row.document, model_conf=row.model_conf,
                              actor="user:alice"))
    record_event(session, actor="user:alice", action="policy.change", target=f"policy:{row.version + 1}",
                 after={"document": row.document,
                        "model_sha256": hashlib.sha256(row.model_conf.encode()).hexdigest()})
    session.commit()
    assert problems(session) == []
    allow_all = row.model_conf.replace("[matchers]\n", "[matchers]\nm = r.sub == r.sub\n# ")
    tamper(session, update(PolicyVersion).where(PolicyVersion.version == row.version + 1)
           .values(model_conf=allow_all))

    assert problems(session) == [
        f"policy_version {row.version + 1}: model_sha256 is "
        f"'{hashlib.sha256(allow_all.encode()).hexdigest()}' but the trail says "
        f"'{hashlib.sha256(row.model_conf.encode()).hexdigest()}'"]


def test_a_deleted_newest_policy_version_is_named(world, session):  # type: ignore[no-untyped-def]
    version = current_policy(session).version
    tamper(session, "DELETE FROM policy_version WHERE version = :v", v=version)

    (problem,) = problems(session)
    assert problem.startswith(f"policy_version {version} is in the trail (event ")
    assert problem.endswith(") but its row is missing")


def test_an_edited_rating_is_named(world, session):  # type: ignore[no-untyped-def]
    rating = session.execute(select(RiskRating).where(RiskRating.category == "cbrn")).scalar_one()
    tamper(session, "UPDATE risk_rating SET post_level = 'low' WHERE id = :id", id=rating.id)

    assert problems(session) == [
        f"risk_rating {rating.id} of model frontier-1: post_level is 'low' but the trail says 'medium'"]


def test_an_edited_review_is_named(world, session):  # type: ignore[no-untyped-def]
    review = session.execute(select(SafetyReview).order_by(SafetyReview.id).limit(1)).scalar_one()
    tamper(session, "UPDATE safety_review SET tier = 'free', reviewer = 'user:mallory' WHERE id = :id",
           id=review.id)

    assert problems(session) == [
        f"safety_review {review.id} of model frontier-1: tier is 'free' but the trail says 'internal'",
        f"safety_review {review.id} of model frontier-1: reviewer is 'user:mallory' but the trail "
        "says 'user:rev1'"]


def test_a_lifted_suspension_behind_govern_is_named(world, session):  # type: ignore[no-untyped-def]
    suspend_model(session, actor="user:ops", model=world["model"], reason="incident")
    tamper(session, "UPDATE governed_model SET suspended = false WHERE name = 'frontier-1'")

    assert problems(session) == ["model frontier-1: suspended is False but the trail says True"]


def test_a_revision_set_back_to_revive_stale_reviews_is_named(world, session):  # type: ignore[no-untyped-def]
    tamper(session, "UPDATE governed_model SET revision = 2 WHERE name = 'frontier-1'")

    assert problems(session) == ["model frontier-1: revision is 2 but the trail says 4"]


def test_an_edited_organisation_tier_is_named(world, session):  # type: ignore[no-untyped-def]
    tamper(session, "UPDATE organisation SET tier = 'internal' WHERE name = 'acme'")

    assert problems(session) == ["organisation 1 (acme): tier is 'internal' but the trail says 'verified'"]


def test_an_unrevoked_key_is_named(world, session):  # type: ignore[no-untyped-def]
    prefix = world["key_prefix"]
    revoked = revoke_key(session, prefix, actor="user:alice")
    tamper(session, "UPDATE api_key SET revoked_at = NULL WHERE prefix = :p", p=prefix)

    assert problems(session) == [
        f"api_key {prefix}: revoked_at is empty but the trail says '{revoked.revoked_at.isoformat()}'"]


def test_a_raised_key_cap_and_a_key_inserted_behind_govern_are_named(world, session):  # type: ignore[no-untyped-def]
    prefix = world["key_prefix"]
    tamper(session, "UPDATE api_key SET tier_cap = 'internal' WHERE prefix = :p", p=prefix)
    tamper(session, "INSERT INTO api_key (prefix, digest, kind, name, org_id, suspended, created_at) "
                    "SELECT 'gvk_ffffffffffff', digest, kind, name, org_id, suspended, created_at "
                    "FROM api_key WHERE prefix = :p", p=prefix)

    assert problems(session) == [f"api_key {prefix}: tier_cap is 'internal' but the trail says empty",
                                 "api_key gvk_ffffffffffff: the trail has no event issuing it"]


def test_a_role_granted_behind_govern_is_named(world, session):  # type: ignore[no-untyped-def]
    user = world["user"]
    tamper(session, update(User).where(User.id == user.id).values(roles="admin,reviewer"))

    assert problems(session) == [
        f"user {user.id} (rita): roles are 'admin,reviewer' but the trail says 'reviewer'"]


def test_a_later_role_event_is_what_counts(world, session):  # type: ignore[no-untyped-def]
    user = world["user"]
    record_event(session, actor="user:alice", action="user.roles", target=f"user:{user.id}",
                 before={"roles": ["reviewer"]}, after={"roles": ["approver"]})
    session.execute(update(User).where(User.id == user.id).values(roles="approver"))
    session.commit()

    assert problems(session) == []


def test_cli_verify_names_the_edited_row_and_fails(world, session, govern):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")
    tamper(session, "UPDATE sign_off SET tier = 'free' WHERE id = :id", id=world["sign_off"].id)

    result = govern("audit", "verify")

    assert result.exit_code == 1
    assert "audit trail intact: " in result.output
    assert (f"Error: sign_off {world['sign_off'].id} of model frontier-1: tier is 'free' but the trail "
            "says 'internal'\n") in result.output


def test_cli_verify_reports_agreement(world, session, govern):  # type: ignore[no-untyped-def]
    govern("audit", "checkpoint")

    result = govern("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "live state agrees with the trail: 15 row(s) checked"

