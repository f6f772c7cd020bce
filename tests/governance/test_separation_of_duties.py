"""Reviews, quorum and sign-offs: separation of duties and the rules an approver must meet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import make_governed_model, ready_sign_off

from govern.errors import Conflict, Forbidden
from govern.governance.reviews import quorum, record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import current_sign_off, reverse_sign_off
from govern.models.base import utcnow


def recommend(session, model, reviewer: str, tier: str = "verified") -> None:  # type: ignore[no-untyped-def]
    record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier,
                  rationale="mitigations hold")


def test_a_rater_cannot_review_their_own_rating(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium", rater="user:rita")
    with pytest.raises(Forbidden, match="you rated this model's scorecard") as caught:
        recommend(session, model, "user:rita")
    assert caught.value.code == "separation_of_duties"


def test_nobody_approves_what_they_rated(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium", rater="user:rita")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    with pytest.raises(Forbidden, match="you rated this model"):
        ready_sign_off(session, actor="user:rita", model=model, tier="verified")


def test_nobody_approves_what_they_reviewed(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    with pytest.raises(Forbidden, match="you reviewed this model"):
        ready_sign_off(session, actor="user:rev2", model=model, tier="verified")


def test_sign_off_needs_a_quorum_of_distinct_reviewers(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev1")  # the same person twice is still one reviewer
    with pytest.raises(Conflict, match="2 distinct reviewers must recommend verified") as caught:
        ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    assert caught.value.code == "quorum_not_met"
    recommend(session, model, "user:rev2")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"


def test_a_quorum_for_trusted_does_not_open_to_verified(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium")
    recommend(session, model, "user:rev1", "trusted")
    recommend(session, model, "user:rev2", "verified")
    assert quorum(session, model).widest_tier == "trusted"
    with pytest.raises(Conflict, match="a quorum supports trusted and above"):
        ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="internal").tier == "internal"


def test_a_model_that_is_not_deployable_cannot_be_signed_off(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="high")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    with pytest.raises(Conflict, match="not deployable: .*deployment needs medium or below"):
        ready_sign_off(session, actor="user:boss", model=model, tier="verified")


def test_a_new_rating_asks_for_fresh_reviews(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="medium")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    rate_category(session, actor="user:rita", model=model, category="cbrn", pre_level="high",
                  post_level="low", evidence="new eval")
    assert quorum(session, model).supporters == 0
    with pytest.raises(Conflict, match="quorum_not_met|has not recommended"):
        ready_sign_off(session, actor="user:boss", model=model, tier="verified")


def test_reviewing_an_incomplete_scorecard_is_refused(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session)
    with pytest.raises(Conflict, match="every tracked category must be rated"):
        recommend(session, model, "user:rev1")


def test_an_expiry_in_the_past_is_refused_and_the_board_reverses_once(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, post="low")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    with pytest.raises(Exception, match="expiry must be in the future"):
        ready_sign_off(session, actor="user:boss", model=model, tier="verified",
                 expires_at=utcnow() - timedelta(minutes=1))
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="too early")
    assert current_sign_off(session, model).reversed_by == "user:board"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="already been reversed"):
        reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id, rationale="again")
