"""The policy page: the live policy as tables, one form over the whole draft, Preview (diff and
impact) before Propose/apply, the versions; auditors only read, bad drafts change nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from factories import ACTOR, add_models, log_decision
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.admin.policy_forms import form_values
from govern.models import Proposal
from govern.models.base import utcnow
from govern.policy.document import parse_document
from govern.policy.store import change_policy, current_policy

REMOVED = "grant|verified|standard|generate"


def posted(session: Session, csrf: str, **changes: Any) -> dict[str, Any]:
    """The policy form as a browser posts it for the live policy, with `changes` (drop: box names)."""
    values = form_values(parse_document(current_policy(session).document))
    drop = changes.pop("drop", ())
    data: dict[str, Any] = {"csrf_token": csrf, "days": "7",
                            **{k: values[k] for k in ("tiers", "capabilities", "model_groups",
                                                      "other_grants", "blocked_models")}}
    data.update({key: "y" for key in values["matrix"] if key not in drop})
    data.update(changes)
    return data


def previewed(client: Any, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the fingerprint its preview hands back, as the page posts Apply."""
    page = client.post("/policy/preview", data=data).get_data(as_text=True)
    match = re.search(r'name="previewed" value="([0-9a-f]{64})"', page)
    assert match is not None, page
    return {**data, "previewed": match.group(1)}


def live_version(session: Session) -> int:
    session.rollback()
    return current_policy(session).version


def test_the_page_shows_the_live_policy_as_tables_and_the_grant_matrix(signed_in, session):  # type: ignore[no-untyped-def]
    add_models(session)
    page = signed_in("ann", "admin").get("/policy").get_data(as_text=True)
    assert "<li>free</li><li>verified</li><li>trusted</li><li>internal</li>" in page
    assert '<code>chat-standard</code>' in page
    assert f'id="{REMOVED}" name="{REMOVED}" value="y" checked' in page
    assert 'id="grant|free|standard|generate" name="grant|free|standard|generate" value="y">' in page
    assert 'href="/policy"' in page  # the nav link


def test_preview_shows_the_diff_and_the_flips_by_org_and_stores_nothing(signed_in, token, session):  # type: ignore[no-untyped-def]
    add_models(session)
    for _ in range(3):
        log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                     allow=True, reason="granted_by_tier")
    session.commit()
    version = live_version(session)
    client = signed_in("ann", "admin")

    response = client.post("/policy/preview", data=posted(session, token(client, "/policy"), drop={REMOVED}))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "grant removed: allow <strong>verified</strong> generate on standard" in page
    assert "3 answer(s) would flip allow → deny" in page
    assert "<td>organisation</td><td>acme</td><td>3</td>" in page
    assert 'id="apply"' in page
    assert live_version(session) == version


def test_previewing_the_live_policy_unchanged_shows_no_change(signed_in, token, session):  # type: ignore[no-untyped-def]
    # The default policy grants internal every capability ("*") on research: no matrix column holds it.
    add_models(session)
    client = signed_in("ann", "admin")
    response = client.post("/policy/preview", data=posted(session, token(client, "/policy")))
    page = response.get_data(as_text=True)
    assert "No change: the two policies are the same." in page
    assert "allow internal research *" in page


def test_apply_with_one_admin_makes_a_new_live_version(signed_in, token, session):  # type: ignore[no-untyped-def]
    add_models(session)
    version = live_version(session)
    client = signed_in("ann", "admin")

    response = client.post("/policy/apply", data=previewed(client, posted(
        session, token(client, "/policy"), drop={REMOVED}, comment="standard generate needs trusted")))

    assert response.status_code == 302
    assert response.headers["Location"] == "/policy"
    assert live_version(session) == version + 1
    row = current_policy(session)
    assert row.comment == "standard generate needs trusted"
    assert {"tier": "verified", "target": "standard", "capability": "generate"} not in row.document["grants"]


def test_apply_with_two_admins_is_a_proposal(signed_in, token, session):  # type: ignore[no-untyped-def]
    add_models(session)
    version = live_version(session)
    signed_in("bob", "admin")
    client = signed_in("ann", "admin")

    response = client.post("/policy/apply", data=previewed(client, posted(
        session, token(client, "/policy"), drop={REMOVED})))

    assert response.status_code == 302
    proposal = session.execute(select(Proposal).order_by(Proposal.id.desc()).limit(1)).scalar_one()
    assert proposal.kind == "policy.replace"
    assert response.headers["Location"] == f"/proposals/{proposal.id}"
    assert live_version(session) == version


def test_an_invalid_draft_shows_the_message_at_its_field_and_stores_nothing(signed_in, token, session):  # type: ignore[no-untyped-def]
    version = live_version(session)
    client = signed_in("ann", "admin")
    data = posted(session, token(client, "/policy"), other_grants="allow gold open generate")

    response = client.post("/policy/apply", data=data)

    assert response.status_code == 400
    assert ('<p class="error" id="error-grants">grant allow:gold:open:generate names an unknown tier '
            "&#39;gold&#39;</p>") in response.get_data(as_text=True)
    assert live_version(session) == version


def test_the_days_of_the_preview_are_chosen(signed_in, token, session):  # type: ignore[no-untyped-def]
    add_models(session)
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=True, reason="granted_by_tier", at=utcnow() - timedelta(days=3))
    session.commit()
    client = signed_in("ann", "admin")
    data = posted(session, token(client, "/policy"), drop={REMOVED})

    one_day = client.post("/policy/preview", data={**data, "days": "1"}).get_data(as_text=True)
    seven_days = client.post("/policy/preview", data=data).get_data(as_text=True)

    assert "0 answer(s) would flip allow → deny" in one_day
    assert "1 answer(s) would flip allow → deny" in seven_days
    assert client.post("/policy/preview", data={**data, "days": "0"}).status_code == 400


def test_a_bad_rate_limit_is_shown_at_its_field(signed_in, token, session):  # type: ignore[no-untyped-def]
    client = signed_in("ann", "admin")
    response = client.post("/policy/preview", data=posted(session, token(client, "/policy"),
                                                          **{"rate|free|per_minute": "ten"}))
    assert response.status_code == 400
    assert "rate limit per_minute of free must be a whole number" in response.get_data(as_text=True)


def test_a_post_without_csrf_token_changes_nothing(signed_in, token, session):  # type: ignore[no-untyped-def]
    version = live_version(session)
    client = signed_in("ann", "admin")
    data = posted(session, "", drop={REMOVED})
    del data["csrf_token"]
    assert client.post("/policy/apply", data=data).status_code == 400
    assert live_version(session) == version


def test_an_auditor_reads_the_policy_and_versions_but_cannot_preview_or_apply(signed_in, token, session):  # type: ignore[no-untyped-def]
    client = signed_in("audrey", "auditor")
    page = client.get("/policy").get_data(as_text=True)
    assert "<h2>Grants</h2>" in page
    assert 'action="/policy/preview"' not in page
    assert client.get("/policy/versions").status_code == 200
    for path in ("/policy/preview", "/policy/apply"):
        assert client.post(path, data={"csrf_token": token(client, "/policy/versions")}).status_code == 403


def test_a_reviewer_cannot_see_the_policy_page(signed_in):  # type: ignore[no-untyped-def]
    client = signed_in("rita", "reviewer")
    assert client.get("/policy").status_code == 403
    assert client.get("/policy/versions").status_code == 403


def test_versions_list_who_when_why_and_diff_two_versions(signed_in, session):  # type: ignore[no-untyped-def]
    before = live_version(session)
    add_models(session, {"open": ["tiny-1"]})
    client = signed_in("audrey", "auditor")

    listing = client.get("/policy/versions").get_data(as_text=True)
    assert f'<a href="/policy-versions/{before + 1}">{before + 1}</a>' in listing
    assert "<td>test:factory</td><td>test models</td>" in listing
    diff = client.get(f"/policy/versions/diff?from={before}&to={before + 1}").get_data(as_text=True)
    assert "model <strong>tiny-1</strong> added to open" in diff
    version_page = client.get(f"/policy-versions/{before + 1}").get_data(as_text=True)
    assert "<code>tiny-1</code>" in version_page
    assert client.get("/policy/versions/diff?from=x").status_code == 400


def test_apply_stores_only_the_draft_whose_preview_was_shown(signed_in, token, session):  # type: ignore[no-untyped-def]
    add_models(session)
    version = live_version(session)
    client = signed_in("ann", "admin")
    csrf = token(client, "/policy")
    shown = previewed(client, posted(session, csrf, drop={REMOVED}))

    # A second box unticked after the preview, and a draft never previewed: both shown, not stored.
    changed = client.post("/policy/apply", data=posted(
        session, csrf, drop={REMOVED, "grant|free|open|generate"}, previewed=shown["previewed"]))
    unpreviewed = client.post("/policy/apply", data=posted(session, csrf, drop={REMOVED}))

    for response in (changed, unpreviewed):
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "The draft changed since its preview: read this preview, then apply." in page
        assert 'name="previewed" value="' in page
    assert live_version(session) == version


def test_organisation_limits_are_shown_on_the_form_and_kept_by_a_draft(signed_in, token, session):  # type: ignore[no-untyped-def]
    change_policy(session, lambda raw: raw.update(rate_limits={
        "free": {"per_minute": 9, "organisation": {"per_day": 90}}}), actor=ACTOR, comment="limits")
    client = signed_in("ann", "admin")
    page = client.get("/policy").get_data(as_text=True)
    assert 'name="rate|free|organisation_per_day" inputmode="numeric" size="8" value="90"' in page
    values = form_values(parse_document(current_policy(session).document))
    data = posted(session, token(client, "/policy"),
                  **{f"rate|{tier}|{window}": value for tier, windows in values["rate_limits"].items()
                     for window, value in windows.items()})
    # Sent back as shown, the draft keeps the organisation's limit: nothing changes.
    assert "rate limits of" not in client.post("/policy/preview", data=data).get_data(as_text=True)
    data["rate|free|organisation_per_day"] = "80"
    preview = client.post("/policy/preview", data=data).get_data(as_text=True)
    assert ("rate limits of <strong>free</strong>: 9/min, no per-day limit, organisation 90/day → "
            "9/min, no per-day limit, organisation 80/day") in preview


def test_budgets_and_model_group_limits_are_kept_by_a_form_edit(signed_in, token, session):  # type: ignore[no-untyped-def]
    # The form shows neither; an edit of the rest must not drop them on the way to Apply.
    add_models(session)
    org_limits = {"free": {"per_minute": 9, "model_groups": {"frontier": {"per_minute": 2}}}}
    change_policy(session, lambda raw: raw.update(
        rate_limits=org_limits, budgets={"free": [{"period": "day", "tokens": 1000}]}),
        actor=ACTOR, comment="limits and budgets")
    client = signed_in("ann", "admin")
    page = client.get("/policy").get_data(as_text=True)
    assert "1000 tokens per day" in page
    assert "not edited on this form" in page
    data = posted(session, token(client, "/policy"), drop={REMOVED}, **{"rate|free|per_minute": "9"})
    preview = client.post("/policy/preview", data=data).get_data(as_text=True)
    assert "budgets of" not in preview and "rate limits of" not in preview
    assert client.post("/policy/apply", data=previewed(client, data)).status_code == 302
    row = current_policy(session)
    assert row.document["budgets"] == {"free": [{"period": "day", "tokens": 1000}]}
    assert row.document["rate_limits"] == org_limits
