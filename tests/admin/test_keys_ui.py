"""The key pages: a key made for an organisation shows its secret once (never cached, never on any
other page or in the audit trail), and works; caps (guarded when raised or lifted), expiry,
rotation with an overlap, suspension and revocation go through the key services; enforcement-point
keys are guarded; auditors only read, reviewers are turned away, CSRF-less posts change nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from factories import add_models, make_key, make_org, make_pep_key
from flask import g
from sqlalchemy import select

from govern.governance.proposals import list_proposals
from govern.identity.keys import get_key, issue_key, list_keys
from govern.identity.users import create_user, find_user
from govern.models import AuditEvent

PASSWORD = "a-long-password-123"
SECRET = re.compile(r'id="secret" type="text" readonly value="([^"]+)"')


def prefix_of(secret: str) -> str:
    """`gvk_<12 hex digits>`: the visible part of a key (its secret part may hold `_` too)."""
    return "_".join(secret.split("_")[:2])


def check(app, secret: str, model: str = "chat-standard") -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = app.test_client().post("/v1/check", json={"model": model, "capability": "generate"},
                                      headers={"Authorization": f"Bearer {secret}"})
    return dict(response.json)


def create(client, token, org_id: int, **fields: str):  # type: ignore[no-untyped-def]
    url = f"/organisations/{org_id}"
    return client.post(f"/keys/new/{org_id}", data={"csrf_token": token(client, url), "name": "",
                                                    "tier_cap": "", "expires_at": "", **fields})


def test_a_new_key_is_shown_once_uncached_and_works(signed_in, token, session, app):  # type: ignore[no-untyped-def]
    add_models(session)
    org_id = make_org(session, "acme", "verified")
    ann = signed_in("ann", "admin")
    response = create(ann, token, org_id, name="batch jobs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "it is shown only this once" in page and 'id="copy-secret"' in page
    match = SECRET.search(page)
    assert match is not None
    secret = match.group(1)
    assert check(app, secret)["allow"] is True
    key = get_key(session, prefix_of(secret))
    assert (key.organisation, key.name, key.tier_cap, key.status) == ("acme", "batch jobs", None, "active")
    for url in (f"/organisations/{org_id}", "/keys", f"/keys/{key.prefix}", "/keys/service", "/audit"):
        shown = ann.get(url)
        assert shown.status_code == 200, url
        assert secret not in shown.get_data(as_text=True), url
    events = session.execute(select(AuditEvent)).scalars().all()
    assert all(secret not in repr((e.before, e.after)) for e in events)


def test_a_cap_and_an_expiry_given_at_creation_are_kept(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "trusted")
    ann = signed_in("ann", "admin")
    page = create(ann, token, org_id, tier_cap="free", expires_at="2099-01-02T03:04").get_data(as_text=True)
    match = SECRET.search(page)
    assert match is not None
    key = get_key(session, prefix_of(match.group(1)))
    assert (key.tier_cap, key.expires_at) == ("free", datetime(2099, 1, 2, 3, 4, tzinfo=UTC))


def test_a_past_expiry_and_an_unknown_cap_are_form_errors(signed_in, token, session):  # type: ignore[no-untyped-def]
    org_id = make_org(session, "acme", "trusted")
    ann = signed_in("ann", "admin")
    past = create(ann, token, org_id, expires_at="2001-01-01T00:00")
    assert past.status_code == 400 and "choose a time in the future" in past.get_data(as_text=True)
    cap = create(ann, token, org_id, tier_cap="platinum")
    assert cap.status_code == 400
    assert "&#39;platinum&#39; is not a tier of the policy" in cap.get_data(as_text=True)
    assert list_keys(session, org_id) == []


def test_lowering_a_cap_applies_and_lifting_it_waits_for_the_second_admin(signed_in, token, session):  # type: ignore[no-untyped-def]
    secret = make_key(session, "acme", tier="trusted", tier_cap="verified")
    prefix = prefix_of(secret)
    ann = signed_in("ann", "admin")
    create_user(session, actor="test:ui", username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    url = f"/keys/{prefix}"
    lowered = ann.post(f"{url}/cap", data={"csrf_token": token(ann, url), "tier_cap": "free"})
    assert lowered.location == url
    session.expire_all()
    assert get_key(session, prefix).tier_cap == "free"
    lifted = ann.post(f"{url}/cap", data={"csrf_token": token(ann, url), "tier_cap": ""})
    assert lifted.location.startswith("/proposals/")
    session.expire_all()
    assert get_key(session, prefix).tier_cap == "free"
    assert [(p.kind, p.state) for p in list_proposals(session)] == [("key.cap", "pending")]


def test_rotation_shows_the_new_secret_once_and_the_old_keys_end(signed_in, token, session, app):  # type: ignore[no-untyped-def]
    add_models(session)
    old = make_key(session, "acme", tier="verified")
    ann = signed_in("ann", "admin")
    url = f"/keys/{prefix_of(old)}"
    before = datetime.now(UTC)
    response = ann.post(f"{url}/rotate", data={"csrf_token": token(ann, url), "overlap": "3600"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    match = SECRET.search(page)
    assert match is not None
    new = match.group(1)
    ended = get_key(session, prefix_of(old)).expires_at
    assert ended is not None and timedelta(minutes=59) < ended - before < timedelta(minutes=61)
    assert f"keeps working until <strong>{ended.strftime('%Y-%m-%d %H:%M:%S')} UTC</strong>" in page
    assert check(app, new)["allow"] is True and check(app, old)["allow"] is True
    assert get_key(session, prefix_of(new)).rotated_from == prefix_of(old)


def test_expiry_suspension_and_revocation(signed_in, token, session):  # type: ignore[no-untyped-def]
    prefix = prefix_of(make_key(session, "acme", tier="verified"))
    ann = signed_in("ann", "admin")
    url = f"/keys/{prefix}"
    ann.post(f"{url}/expiry", data={"csrf_token": token(ann, url), "expires_at": "2098-05-06T07:08"})
    session.expire_all()
    assert get_key(session, prefix).expires_at == datetime(2098, 5, 6, 7, 8, tzinfo=UTC)
    ann.post(f"{url}/suspend", data={"csrf_token": token(ann, url)})
    session.expire_all()
    assert get_key(session, prefix).status == "suspended"
    ann.post(f"{url}/lift", data={"csrf_token": token(ann, url)})
    session.expire_all()
    assert get_key(session, prefix).status == "active"
    confirm = ann.get(f"{url}/revoke").get_data(as_text=True)
    assert "A revoked key cannot come back" in confirm and get_key(session, prefix).status == "active"
    ann.post(f"{url}/revoke", data={"csrf_token": token(ann, url)})
    session.expire_all()
    assert get_key(session, prefix).status == "revoked"
    assert 'action="/keys' not in ann.get(url).get_data(as_text=True)


def test_an_enforcement_point_key_is_guarded_and_listed_on_its_own_page(signed_in, token, session):  # type: ignore[no-untyped-def]
    make_pep_key(session, "edge-1")
    ann = signed_in("ann", "admin")
    listing = ann.get("/keys/service").get_data(as_text=True)
    assert "edge-1" in listing and "saving makes it a proposal" not in listing
    single = ann.post("/keys/service", data={"csrf_token": token(ann, "/keys/service"), "name": "edge-2",
                                             "expires_at": ""})
    assert single.status_code == 200 and SECRET.search(single.get_data(as_text=True)) is not None
    create_user(session, actor="test:ui", username="ben", password=PASSWORD, roles=frozenset({"admin"}))
    proposed = ann.post("/keys/service", data={"csrf_token": token(ann, "/keys/service"), "name": "edge-3",
                                               "expires_at": ""})
    assert proposed.location.startswith("/proposals/")
    assert sorted(k.name for k in list_keys(session) if k.kind == "pep") == ["edge-1", "edge-2"]
    assert "edge-1" not in ann.get("/keys").get_data(as_text=True)


def test_an_approved_enforcement_point_key_shows_its_secret_to_the_approver_once(  # type: ignore[no-untyped-def]
        signed_in, token, session, app):
    # Each request reads its user afresh, as on a server (the test holds one app context).
    app.teardown_request(lambda _error: g.pop("_login_user", None))
    ann = signed_in("ann", "admin")
    ben = signed_in("ben", "admin")
    proposed = ann.post("/keys/service", data={"csrf_token": token(ann, "/keys/service"), "name": "edge-9",
                                               "expires_at": ""})
    url = proposed.location

    approved = ben.post(f"{url}/approve", data={"csrf_token": token(ben, url), "reason": ""})

    assert approved.status_code == 200, approved.get_data(as_text=True)[-1500:]
    assert approved.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(approved.get_data(as_text=True))
    assert secret is not None
    evaluation = app.test_client().post(
        "/access/v1/evaluation", headers={"Authorization": f"Bearer {secret.group(1)}"},
        json={"subject": {"type": "api_key", "id": "gvk_000000000000"}, "resource": {"type": "model",
              "id": "chat-standard"}, "action": {"name": "generate"}})
    assert evaluation.status_code == 200, evaluation.get_data(as_text=True)  # a pep key: it may ask
    assert secret.group(1) not in ben.get(url).get_data(as_text=True)


def test_an_auditor_reads_keys_without_forms_and_cannot_change_them(signed_in, token, session):  # type: ignore[no-untyped-def]
    prefix = prefix_of(make_key(session, "acme", tier="verified"))
    org_id = make_org(session, "beta", "free")
    auditor = signed_in("aud", "auditor")
    url = f"/keys/{prefix}"
    for page in ("/keys", "/keys/service", url):
        response = auditor.get(page)
        assert response.status_code == 200 and 'action="/keys' not in response.get_data(as_text=True)
    csrf = token(auditor, url)
    answers = {path: auditor.post(path, data={"csrf_token": csrf, "tier_cap": "", "overlap": "0",
                                              "name": "x", "expires_at": ""}).status_code
               for path in (f"{url}/cap", f"{url}/expiry", f"{url}/rotate", f"{url}/suspend",
                            f"{url}/lift", f"{url}/revoke", f"/keys/new/{org_id}", "/keys/service")}
    assert set(answers.values()) == {403}
    assert auditor.get(f"{url}/revoke").status_code == 403
    assert [k.status for k in list_keys(session)] == ["active"]


def test_a_reviewer_is_turned_away_and_a_csrf_less_post_changes_nothing(signed_in, token, session):  # type: ignore[no-untyped-def]
    prefix = prefix_of(make_key(session, "acme", tier="verified"))
    org_id = get_key(session, prefix).organisation
    reviewer = signed_in("rita", "reviewer")
    assert reviewer.get("/keys").status_code == 403 and reviewer.get(f"/keys/{prefix}").status_code == 403
    csrf = token(reviewer, "/")
    assert reviewer.post(f"/keys/{prefix}/revoke", data={"csrf_token": csrf}).status_code == 403
    ann = signed_in("ann", "admin")
    assert ann.post(f"/keys/{prefix}/revoke").status_code == 400
    assert ann.post(f"/keys/{prefix}/suspend").status_code == 400
    assert ann.post(f"/keys/{prefix}/rotate", data={"overlap": "0"}).status_code == 400
    assert org_id == "acme" and [k.status for k in list_keys(session)] == ["active"]


def test_a_rotated_out_key_cannot_be_given_a_later_end_and_the_page_says_why(  # type: ignore[no-untyped-def]
        signed_in, token, session):
    old = prefix_of(make_key(session, "acme", tier="verified"))
    ann = signed_in("ann", "admin")
    url = f"/keys/{old}"
    ann.post(f"{url}/rotate", data={"csrf_token": token(ann, url), "overlap": "3600"})
    session.expire_all()
    ends = get_key(session, old).expires_at
    later = ann.post(f"{url}/expiry", data={"csrf_token": token(ann, url), "expires_at": "2099-01-01T00:00"})
    assert later.status_code == 400
    assert "its overlap can end sooner, never later" in later.get_data(as_text=True)
    past = ann.post(f"{url}/expiry", data={"csrf_token": token(ann, url), "expires_at": "2001-01-01T00:00"})
    assert past.status_code == 400 and "choose a time in the future" in past.get_data(as_text=True)
    session.expire_all()
    assert get_key(session, old).expires_at == ends


def test_the_keys_list_pages_a_hundred_at_a_time_oldest_first(signed_in, session):  # type: ignore[no-untyped-def]
    make_org(session, "acme", tier="free")
    prefixes = [issue_key(session, actor="test", org="acme", name=f"k{n}").info.prefix for n in range(103)]
    admin = signed_in("ann", "admin")

    first = admin.get("/keys").get_data(as_text=True)
    second = admin.get("/keys?page=2").get_data(as_text=True)

    assert [p for p in prefixes if p in first] == prefixes[:100]
    assert [p for p in prefixes if p in second] == prefixes[100:]
    assert 'href="/keys?page=2&amp;sort=created">Next page' in first and "Previous page" not in first
    assert 'href="/keys?page=1&amp;sort=created">Previous page' in second and "Next page" not in second


def test_the_keys_list_sorts_by_a_column_either_way(signed_in, session):  # type: ignore[no-untyped-def]
    make_org(session, "acme", tier="free")
    for name in ("bravo", "alpha", "charlie"):
        issue_key(session, actor="test", org="acme", name=name)
    admin = signed_in("ann", "admin")

    def order(url: str) -> list[str]:
        page = admin.get(url).get_data(as_text=True)
        return sorted(("alpha", "bravo", "charlie"), key=lambda name: page.index(f"<td>{name}</td>"))

    assert order("/keys") == ["bravo", "alpha", "charlie"]  # created
    assert order("/keys?sort=name") == ["alpha", "bravo", "charlie"]
    assert order("/keys?sort=-name") == ["charlie", "bravo", "alpha"]
    assert order("/keys?sort=nonsense") == ["bravo", "alpha", "charlie"]


def test_an_admin_key_for_an_auditor_is_made_on_the_service_page_and_reads_only(  # type: ignore[no-untyped-def]
        signed_in, token, session, app):
    ann = signed_in("ann", "admin")
    create_user(session, actor="test:ui", username="aud", password=PASSWORD, roles=frozenset({"auditor"}))
    auditor_id = find_user(session, "aud").id

    made = ann.post("/keys/service/admin", data={"admin-key-csrf_token": token(ann, "/keys/service"),
                                                 "admin-key-user_id": auditor_id, "admin-key-name": "reports",
                                                 "admin-key-expires_at": ""})

    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(made.get_data(as_text=True))
    assert secret is not None
    api = app.test_client()
    auth = {"Authorization": f"Bearer {secret.group(1)}"}
    assert api.get("/v1/admin/organisations", headers=auth).status_code == 200
    written = api.post("/v1/admin/organisations", json={"name": "x", "tier": "free"}, headers=auth)
    assert written.status_code == 403


def test_with_two_admins_an_admin_key_is_a_proposal(signed_in, token, session, app):  # type: ignore[no-untyped-def]
    app.teardown_request(lambda _error: g.pop("_login_user", None))
    ann = signed_in("ann", "admin")
    signed_in("ben", "admin")

    proposed = ann.post("/keys/service/admin", data={"admin-key-csrf_token": token(ann, "/keys/service"),
                                                     "admin-key-user_id": find_user(session, "ann").id,
                                                     "admin-key-name": "", "admin-key-expires_at": ""})

    assert proposed.status_code == 302 and proposed.location.startswith("/proposals/")
    assert [k.kind for k in list_keys(session, kinds=("admin",))] == []
