"""The lowest tier that would allow a (model, capability) under the live policy, and an
organisation's recent denials carrying it."""

from __future__ import annotations

from factories import add_models, make_governed_model, make_key, make_org, make_signed_model

from govern.decisions.denials import live_snapshot, recent_denials


def test_the_lowest_allowing_tier_follows_the_grants(session):  # type: ignore[no-untyped-def]
    add_models(session)
    snapshot = live_snapshot(session)
    assert snapshot.lowest_allowing_tier("open-7b", "generate") == "free"
    assert snapshot.lowest_allowing_tier("chat-standard", "generate") == "verified"
    assert snapshot.lowest_allowing_tier("chat-standard", "fine_tune") == "trusted"
    assert snapshot.lowest_allowing_tier("frontier-1", "tools") == "internal"


def test_no_tier_allows_an_unknown_model_or_capability(session):  # type: ignore[no-untyped-def]
    add_models(session)
    snapshot = live_snapshot(session)
    assert snapshot.lowest_allowing_tier("no-such-model", "generate") is None
    assert snapshot.lowest_allowing_tier("open-7b", "no-such-capability") is None


def test_a_governed_model_without_sign_off_is_open_to_internal_only(session):  # type: ignore[no-untyped-def]
    add_models(session)
    make_governed_model(session, "gov-model", group="standard")
    assert live_snapshot(session).lowest_allowing_tier("gov-model", "generate") == "internal"


def test_a_sign_off_opens_a_governed_model_from_its_tier(session):  # type: ignore[no-untyped-def]
    add_models(session)
    make_signed_model(session, "gov-model", group="standard", tier="trusted")
    assert live_snapshot(session).lowest_allowing_tier("gov-model", "generate") == "trusted"


def test_recent_denials_name_the_lowest_tier_that_would_have_allowed(client, session):  # type: ignore[no-untyped-def]
    add_models(session)
    key = make_key(session, "acme", tier="free")
    make_org(session, "other", "free")
    for model, capability in (("open-7b", "generate"), ("chat-standard", "generate"),
                              ("frontier-1", "generate")):
        client.post("/v1/check", json={"model": model, "capability": capability},
                    headers={"Authorization": f"Bearer {key}"})
    session.expire_all()
    from govern.identity.organisations import get_org

    denials = recent_denials(session, get_org(session, "acme").id)
    assert [(d.decision["model"], d.lowest_tier) for d in denials] == [
        ("frontier-1", "trusted"), ("chat-standard", "verified")]
    assert recent_denials(session, get_org(session, "other").id) == []
