"""The organisation pages: admins create, re-tier, suspend and delete organisations through the same
services and guarded-change path as the admin API; raising a tier waits for a second admin when
there is one; bad input is a message on the form; auditors only read, reviewers are turned away."""

from __future__ import annotations

import re

from factories import ACTOR, add_models, make_key, make_org, make_pep_key
from sqlalchemy import select

from govern.governance.proposals import list_proposals
from govern.identity.organisations import get_org, list_orgs
from govern.identity.users import create_user
from govern.models import AuditEvent
from govern.policy.store import change_policy

PASSWORD = "a-long-password-123"


def names_in_table(page: str) -> list[str]:
    return re.findall(r'<td><a href="/organisations/\d+">([^<]+)</a></td>', page)


def test_an_admin_creates_an_organisation_at_the_lowest_tier_at_once(signed_in, token, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    create_user(session, actor="test:ui", username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    response = ann.post("/organisations/new", data={"csrf_token": token(ann, "/organisations/new"),
                                                    "name": " acme ", "tier": "free"})
    org = get_org(session, "acme")
    assert response.status_code == 302 and response.location == f"/organisations/{org.id}"
    assert (org.tier, org.suspended) == ("free", False)
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "org.create")).scalar_one()
    assert (event.actor, event.after["name"]) == ("user:ann", "acme")


def test_creating_above_the_lowest_tier_with_two_admins_is_a_proposal(signed_in, token, session):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    create_user(session, actor="test:ui", username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    page = ann.get("/organisations/new").get_data(as_text=True)
    assert "saving makes it a proposal, which waits for a second admin" in page
    response = ann.post("/organisations/new", data={"csrf_token": token(ann, "/organisations/new"),
                                                    "name": "acme", "tier": "trusted"})
    assert response.status_code == 302 and response.location.startswith("/proposals/")
    assert list_orgs(session) == []
    assert [(p.kind, p.state) for p in list_proposals(session)] == [("org.tier", "pending")]


def test_raising_a_tier_waits_for_the_second_admin_and_lowering_applies(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "verified")
    ann = signed_in("ann", "admin")
    create_user(session, actor="test:ui", username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    url = f"/organisations/{org_id}"
    raised = ann.post(f"{url}/tier", data={"csrf_token": token(ann, url), "tier": "trusted"})
    assert raised.status_code == 302 and raised.location.startswith("/proposals/")
    session.expire_all()
    assert get_org(session, org_id).tier == "verified"
    lowered = ann.post(f"{url}/tier", data={"csrf_token": token(ann, url), "tier": "free"})
    assert lowered.status_code == 302 and lowered.location == url
    session.expire_all()
    assert get_org(session, org_id).tier == "free"


def test_a_single_admin_raises_a_tier_at_once_and_the_page_says_so(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "free")
    ann = signed_in("ann", "admin")
    url = f"/organisations/{org_id}"
    assert "You are the only admin: a raise applies at once" in ann.get(url).get_data(as_text=True)
    ann.post(f"{url}/tier", data={"csrf_token": token(ann, url), "tier": "internal"})
    session.expire_all()
    assert get_org(session, org_id).tier == "internal"


def test_a_duplicate_name_and_an_unknown_tier_are_form_errors(signed_in, token, session):  # type: ignore[no-untyped-def]
    make_org(session, "acme", "free")
    ann = signed_in("ann", "admin")
    duplicate = ann.post("/organisations/new", data={"csrf_token": token(ann, "/organisations/new"),
                                                     "name": "acme", "tier": "free"})
    assert duplicate.status_code == 400
    assert "an organisation named &#39;acme&#39; already exists" in duplicate.get_data(as_text=True)
    bad = ann.post("/organisations/new", data={"csrf_token": token(ann, "/organisations/new"),
                                               "name": "beta", "tier": "platinum"})
    assert bad.status_code == 400
    assert ("&#39;platinum&#39; is not a tier of the policy (free, verified, trusted, internal)"
            in bad.get_data(as_text=True))
    empty = ann.post("/organisations/new", data={"csrf_token": token(ann, "/organisations/new"),
                                                 "name": "", "tier": "free"})
    assert empty.status_code == 400 and "This field is required." in empty.get_data(as_text=True)
    assert [o.name for o in list_orgs(session)] == ["acme"]


def test_the_table_searches_filters_sorts_and_pages(signed_in, session):  # type: ignore[no-untyped-def]
    for index in range(30):
        make_org(session, f"org-{index:02d}", "free" if index % 2 else "trusted")
    make_org(session, "Acme Labs", "verified")
    auditor = signed_in("aud", "auditor")
    first = auditor.get("/organisations").get_data(as_text=True)
    assert "31 organisations · page 1 of 2" in first
    assert names_in_table(first)[:3] == ["Acme Labs", "org-00", "org-01"]
    second = auditor.get("/organisations?page=2").get_data(as_text=True)
    assert names_in_table(second) == ["org-24", "org-25", "org-26", "org-27", "org-28", "org-29"]
    assert names_in_table(auditor.get("/organisations?q=ACME").get_data(as_text=True)) == ["Acme Labs"]
    trusted = auditor.get("/organisations?tier=trusted&q=org-0&sort=-name").get_data(as_text=True)
    assert names_in_table(trusted) == ["org-08", "org-06", "org-04", "org-02", "org-00"]
    by_tier = names_in_table(auditor.get("/organisations?sort=-tier").get_data(as_text=True))
    assert by_tier[0] == "org-00" and by_tier[15] == "Acme Labs"


def test_suspending_refuses_the_keys_and_lifting_restores_the_organisation(signed_in, token, session, app):  # type: ignore[no-untyped-def]
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    org_id = get_org(session, "acme").id
    ann = signed_in("ann", "admin")
    url = f"/organisations/{org_id}"

    def answer() -> str:
        response = app.test_client().post(
            "/v1/check", json={"model": "chat-standard", "capability": "generate"},
            headers={"Authorization": f"Bearer {key}"})
        return str(response.json["reason"])

    assert ann.post(f"{url}/suspend", data={"csrf_token": token(ann, url)}).location == url
    assert answer() == "org_suspended"
    assert "Lift the suspension" in ann.get(url).get_data(as_text=True)
    lifted = ann.post(f"{url}/lift", data={"csrf_token": token(ann, url)}, follow_redirects=True)
    assert "The suspension is lifted." in lifted.get_data(as_text=True)
    session.expire_all()
    assert get_org(session, org_id).suspended is False


def test_an_organisation_with_keys_is_not_deleted_and_the_page_says_why(signed_in, token, session):  # type: ignore[no-untyped-def]
    make_key(session, "acme", tier="free")
    empty_id = make_org(session, "empty", "free")
    org_id = get_org(session, "acme").id
    ann = signed_in("ann", "admin")
    url = f"/organisations/{org_id}"
    refused = ann.post(f"{url}/delete", data={"csrf_token": token(ann, url)}, follow_redirects=True)
    assert ("organisation &#39;acme&#39; still has 1 key(s); suspend it instead"
            in refused.get_data(as_text=True))
    deleted = ann.post(f"/organisations/{empty_id}/delete", data={"csrf_token": token(ann, url)})
    assert deleted.location == "/organisations"
    assert [o.name for o in list_orgs(session)] == ["acme"]


def test_the_page_lists_keys_decisions_and_denials_with_the_tier_that_would_allow(  # type: ignore[no-untyped-def]
        signed_in, session, app):
    add_models(session)
    key = make_key(session, "acme", tier="free", name="batch jobs")
    for model in ("open-7b", "frontier-1"):
        app.test_client().post("/v1/check", json={"model": model, "capability": "generate"},
                               headers={"Authorization": f"Bearer {key}"})
    url = f"/organisations/{get_org(session, 'acme').id}"
    page = signed_in("aud", "auditor").get(url).get_data(as_text=True)
    assert "batch jobs" in page and "_".join(key.split("_")[:2]) in page and key not in page
    denials = page.split("<h2>Recent denials</h2>")[1].split("<h2>Recent decisions</h2>")[0]
    assert "frontier-1" in denials and "<td>trusted</td>" in denials and "open-7b" not in denials
    decisions = page.split("<h2>Recent decisions</h2>")[1]
    assert decisions.count('href="/decisions/') == 2
    assert "no identity is mapped to acme" in page


def test_an_auditor_reads_without_forms_and_cannot_change_anything(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "free")
    auditor = signed_in("aud", "auditor")
    url = f"/organisations/{org_id}"
    page = auditor.get(url).get_data(as_text=True)
    assert auditor.get("/organisations").status_code == 200
    assert 'action="/organisations' not in page and 'action="/keys' not in page
    csrf = token(auditor, url)
    data = {"csrf_token": csrf, "tier": "internal", "name": "x"}
    answers = {path: auditor.post(path, data=data).status_code
               for path in ("/organisations/new", f"{url}/tier", f"{url}/suspend", f"{url}/lift",
                            f"{url}/delete")}
    assert set(answers.values()) == {403}
    assert auditor.get("/organisations/new").status_code == 403
    session.expire_all()
    assert get_org(session, org_id).tier == "free"


def test_a_reviewer_cannot_see_or_change_organisations(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "free")
    reviewer = signed_in("rita", "reviewer")
    assert reviewer.get("/organisations").status_code == 403
    assert reviewer.get(f"/organisations/{org_id}").status_code == 403
    assert reviewer.post(f"/organisations/{org_id}/tier",
                         data={"csrf_token": token(reviewer, "/"), "tier": "internal"}).status_code == 403


def test_a_post_without_its_csrf_token_changes_nothing(signed_in, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "free")
    ann = signed_in("ann", "admin")
    assert ann.post(f"/organisations/{org_id}/tier", data={"tier": "internal"}).status_code == 400
    assert ann.post(f"/organisations/{org_id}/suspend").status_code == 400
    assert ann.post("/organisations/new", data={"name": "beta", "tier": "free"}).status_code == 400
    session.expire_all()
    assert [(o.name, o.tier, o.suspended) for o in list_orgs(session)] == [("acme", "free", False)]


def test_the_page_shows_usage_against_budgets_and_the_top_keys_and_models(  # type: ignore[no-untyped-def]
        signed_in, session, app):
    add_models(session)
    change_policy(session, lambda raw: raw.update(budgets={"free": [{"period": "day", "tokens": 1000}]},
                                                  rate_limits={"free": {"organisation": {"per_minute": 50}}}),
                  actor=ACTOR, comment="budgets")
    client = app.test_client()
    keys = [make_key(session, "acme", tier="free"), make_key(session, "acme")]
    pep = {"Authorization": f"Bearer {make_pep_key(session)}"}
    for key, tokens in ((keys[0], 300), (keys[0], 200), (keys[1], 100)):
        decided = client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                              headers={"Authorization": f"Bearer {key}"}).json
        assert client.post("/v1/usage", headers=pep, json={"decision_id": decided["decision_id"],
                           "input_tokens": tokens, "output_tokens": 0, "cost": "0.25"}).status_code == 201
    url = f"/organisations/{get_org(session, 'acme').id}"
    page = signed_in("aud", "auditor").get(url).get_data(as_text=True)
    section = page.split("<h2>Usage, limits and budgets</h2>")[1].split("<h2>Keys</h2>")[0]
    assert "all keys together 50 a minute" in section
    assert "600 tokens, 0.75 USD" in section
    assert "<td>600 of 1,000</td>" in section and 'value="60"' in section
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td>(\d+)</td><td>([\d,]+)</td>", section)
    assert rows[:2] == [(keys[0][:16], "2", "500"), (keys[1][:16], "1", "100")]
    assert ("open-7b", "3", "600") in rows
    assert 'aria-label="Tokens reported per day"' in section
