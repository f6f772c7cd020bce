"""The deployment check says a release may go out to a tier exactly when /v1/check would let that
tier use the model: the same answer as the policy snapshot built from governance, state by state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from factories import make_signed_model

from govern.governance.access import live_snapshot
from govern.governance.deployable import deployable
from govern.governance.registry import register_version, retire_model
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.models.base import utcnow

TIERS = ("free", "verified", "trusted", "internal")


def signed_for_trusted(session):  # type: ignore[no-untyped-def]
    """open-gov, in the group `open` (the policy grants free and up `generate`), signed off for trusted."""
    return make_signed_model(session, "open-gov", group="open", tier="trusted")


def reversed_(session) -> None:  # type: ignore[no-untyped-def]
    model, signed = signed_for_trusted(session)
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="no")


def expired(session) -> None:  # type: ignore[no-untyped-def]
    _model, signed = signed_for_trusted(session)
    signed.expires_at = datetime(2025, 1, 1, tzinfo=UTC)
    session.commit()


def suspended(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    suspend_model(session, actor="user:boss", model=model, reason="abuse")


def retired(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    retire_model(session, actor="user:alice", model=model, reason="withdrawn")


def new_version(session) -> None:  # type: ignore[no-untyped-def]
    model, _signed = signed_for_trusted(session)
    register_version(session, actor="user:alice", model=model, version="2.0")


@pytest.mark.parametrize(("arrange", "expected"), [
    (signed_for_trusted, {"free": False, "verified": False, "trusted": True, "internal": True}),
    (reversed_, {"free": False, "verified": False, "trusted": False, "internal": True}),
    (expired, {"free": False, "verified": False, "trusted": False, "internal": True}),
    (suspended, {"free": False, "verified": False, "trusted": False, "internal": False}),
    (retired, {"free": False, "verified": False, "trusted": False, "internal": False}),
    (new_version, {"free": False, "verified": False, "trusted": False, "internal": True}),
])
def test_the_check_agrees_with_the_decision_plane(session, arrange, expected):
    arrange(session)
    now = utcnow()
    answers = {tier: deployable(session, name="open-gov", tier=tier, now=now).deployable for tier in TIERS}
    assert answers == expected
    snapshot = live_snapshot(session)
    assert {tier: snapshot.decide_tier(tier, "open-gov", "generate").allow for tier in TIERS} == expected

