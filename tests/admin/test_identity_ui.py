"""The identity provider pages: admins add, edit and delete trusted issuers and their ordered
claim-to-tier rules through the same service as the admin API; every change is a new version with
its audit event; bad input is shown next to its field and changes nothing; auditors only read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from govern.identity.issuers import configuration_version, create_issuer, get_issuer, stored_issuer
from govern.identity.users import create_user
from govern.models import AuditEvent

ISSUER = "https://login.example.org"
AUDIENCE = "https://govern.example.org/api"
STORED = {
    "name": "corp", "issuer": ISSUER, "label": "Example SSO", "audiences": [AUDIENCE],
    "algorithms": ["RS256"], "default_tier": "free",
    "rules": [{"claim": "groups", "contains": "safety-researchers", "tier": "trusted"},
              {"email_domain": "example.org", "tier": "verified"}],
    "sso": {"client_id": "govern-admin", "client_secret_env": "GOVERN_SSO_CORP_SECRET",
            "roles": {"govern-admins": ["admin"]}},
}


def form(csrf: str, rules: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    """The issuer form as a browser posts it: `rules` as the rows of the rules table."""
    data: dict[str, Any] = {"csrf_token": csrf, "issuer": ISSUER, "label": "Example SSO",
                            "audiences": AUDIENCE, "algorithms": ["RS256"], "default_tier": "free",
                            "enabled": "y", **fields}
    for index, row in enumerate(rules):
        data.update({f"rules-{index}-{key}": value for key, value in row.items()})
    return data


def last_event(session) -> AuditEvent:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()


def errors_next_to(page: str, name: str) -> list[str]:
    """The error messages in the form field or rules-table cell holding the input `name`."""
    blocks = re.findall(r'<div class="field has-error">.*?</div>|<td class="has-error">.*?</td>', page, re.S)
    for block in blocks:
        if f'name="{name}"' in block and 'aria-invalid="true"' in block:
            return re.findall(r'<p class="error">(.*?)</p>', block)
    return []


@pytest.fixture
def corp(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Issuer `corp`, added by ann through the service; its document as the API shows it."""
    return create_issuer(session, STORED, actor="user:ann").as_dict()


def test_an_issuer_added_in_the_ui_is_listed_and_served_by_the_api_with_its_rules_in_order(
        signed_in, token, session):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    rules = [{"order": "1", "claim": "groups", "test": "contains", "value": "safety-researchers",
              "tier": "trusted"},
             {"order": "2", "claim": "", "test": "email_domain", "value": "example.org", "tier": "verified"},
             {"order": "3", "claim": "", "test": "contains", "value": "", "tier": "free"}]  # the blank row

    response = admin.post("/identity-providers/new",
                          data=form(token(admin, "/identity-providers/new"), rules, name="corp",
                                    algorithms=["RS256", "ES256"]))

    assert response.status_code == 302
    assert response.headers["Location"] == "/identity-providers/corp"
    listing = admin.get("/identity-providers").get_data(as_text=True)
    assert "Configuration version 1" in listing
    row = re.search(r'<tr>\s*<td><a href="/identity-providers/corp">corp</a></td>(.*?)</tr>', listing, re.S)
    assert row is not None
    assert re.findall(r"<td>(.*?)</td>", row.group(1), re.S) == [
        f"<code>{ISSUER}</code>", f"<code>{AUDIENCE}</code>", "free", "2",
        '<span class="badge open">enabled</span>', "1"]
    assert admin.get("/v1/admin/issuers/corp").get_json() == {
        "name": "corp", "issuer": ISSUER, "label": "Example SSO", "audiences": [AUDIENCE],
        "algorithms": ["RS256", "ES256"], "default_tier": "free", "sso": None, "enabled": True,
        "rules": [{"claim": "groups", "contains": "safety-researchers", "tier": "trusted"},
                  {"email_domain": "example.org", "tier": "verified"}]}
    event = last_event(session)
    assert (event.actor, event.action, event.target) == ("user:ann", "issuer.create", "issuer:corp")


def test_the_edit_page_starts_from_the_stored_rules_in_order_plus_blank_rows(signed_in, corp):  # type: ignore[no-untyped-def]
    page = signed_in("ann", "admin").get("/identity-providers/corp/edit").get_data(as_text=True)

    assert re.findall(r'name="rules-(\d)-order"[^>]*value="(\d)"', page) == [
        ("0", "1"), ("1", "2"), ("2", "3"), ("3", "4")]
    assert re.findall(r'name="rules-\d-value"[^>]*value="([^"]*)"', page) == [
        "safety-researchers", "example.org", "", ""]
    assert '<option selected value="email_domain">' in page


def test_reordering_and_adding_rules_makes_a_new_version_with_an_audit_event(
        signed_in, token, session, corp):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    url = "/identity-providers/corp/edit"
    rules = [{"order": "3", "claim": "groups", "test": "contains", "value": "safety-researchers",
              "tier": "trusted"},
             {"order": "1", "claim": "", "test": "email_domain", "value": "example.org", "tier": "verified"},
             {"order": "2", "claim": "client_id", "test": "equals", "value": "batch-pipeline",
              "tier": "internal"}]

    response = admin.post(url, data=form(token(admin, url), rules))

    assert response.status_code == 302
    assert response.headers["Location"] == "/identity-providers/corp"
    session.expire_all()
    expected_rules = [{"email_domain": "example.org", "tier": "verified"},
                      {"claim": "client_id", "equals": "batch-pipeline", "tier": "internal"},
                      {"claim": "groups", "contains": "safety-researchers", "tier": "trusted"}]
    assert get_issuer(session, "corp").as_dict()["rules"] == expected_rules
    assert (configuration_version(session), stored_issuer(session, "corp").revision) == (2, 2)
    event = last_event(session)
    assert (event.actor, event.action, event.target) == ("user:ann", "issuer.update", "issuer:corp")
    assert event.before is not None and event.after is not None
    assert (event.before["rules"], event.after["rules"], event.after["version"]) == (
        STORED["rules"], expected_rules, 2)
    # The form does not edit admin sign-in: it is kept as stored.
    assert event.after["sso"] == event.before["sso"] == corp["sso"]
    detail = admin.get("/identity-providers/corp").get_data(as_text=True)
    assert re.findall(r"<td><code>(issuer\.\w+)</code></td>", detail) == ["issuer.update", "issuer.create"]
    assert "revision 2" in detail


def test_removing_a_rule_keeps_the_others_in_order(signed_in, token, session, corp):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    url = "/identity-providers/corp/edit"
    rules = [{"order": "1", "claim": "groups", "test": "contains", "value": "safety-researchers",
              "tier": "trusted", "remove": "y"},
             {"order": "2", "claim": "", "test": "email_domain", "value": "example.org", "tier": "verified"}]

    assert admin.post(url, data=form(token(admin, url), rules)).status_code == 302

    session.expire_all()
    assert get_issuer(session, "corp").as_dict()["rules"] == [
        {"email_domain": "example.org", "tier": "verified"}]


RULE = {"order": "1", "claim": "groups", "test": "contains", "value": "safety-researchers", "tier": "trusted"}


@pytest.mark.parametrize(("fields", "rules", "where", "message"), [
    ({"issuer": "login.example.org"}, [RULE], "issuer",
     "&#39;issuer&#39; must be the issuer&#39;s http(s) URL, exactly as in its tokens"),
    ({}, [{**RULE, "tier": "gold"}], "rules-0-tier",
     "&#39;gold&#39; is not a tier of the policy (free, verified, trusted, internal)"),
    ({"default_tier": "gold"}, [RULE], "default_tier",
     "&#39;gold&#39; is not a tier of the policy (free, verified, trusted, internal)"),
    ({"audiences": "  \n"}, [RULE], "audiences",
     "name at least one audience (a token&#39;s aud must be one of them)"),
    ({}, [{**RULE, "claim": ""}], "rules-0-claim", "name the claim this rule reads, e.g. groups"),
    ({}, [{**RULE, "test": "email_domain"}], "rules-0-claim",
     "leave the claim empty: an email domain rule reads the verified email"),
    ({"algorithms": []}, [RULE], "algorithms", "choose at least one algorithm"),
], ids=["bad-url", "unknown-rule-tier", "unknown-default-tier", "empty-audience", "rule-without-claim",
        "email-rule-with-claim", "no-algorithm"])
def test_invalid_input_is_shown_next_to_its_field_and_changes_nothing(
        signed_in, token, session, corp, fields, rules, where, message):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    url = "/identity-providers/corp/edit"

    response = admin.post(url, data=form(token(admin, url), rules, **fields))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert errors_next_to(page, where) == [message]
    assert 'value="safety-researchers"' in page  # what was typed is still there to correct
    session.expire_all()
    assert get_issuer(session, "corp").as_dict() == corp
    assert configuration_version(session) == 1


def test_a_second_issuer_with_the_same_name_is_refused_on_the_form(signed_in, token, session, corp):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")

    response = admin.post("/identity-providers/new",
                          data=form(token(admin, "/identity-providers/new"), [RULE], name="corp",
                                    issuer="https://other.example.org"))

    assert response.status_code == 400
    assert ('<p class="notice danger">another issuer already has this name or issuer URL</p>'
            in response.get_data(as_text=True))
    session.expire_all()
    assert get_issuer(session, "corp").as_dict() == corp


def test_deleting_asks_for_confirmation_first(signed_in, token, session, corp):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    url = "/identity-providers/corp/delete"

    confirm = admin.get(url).get_data(as_text=True)
    assert "Delete Example SSO <small>corp</small>?" in confirm
    assert get_issuer(session, "corp").name == "corp"

    response = admin.post(url, data={"csrf_token": token(admin, url)})

    assert response.status_code == 302
    assert response.headers["Location"] == "/identity-providers"
    assert "No identity provider is configured" in admin.get("/identity-providers").get_data(as_text=True)
    assert admin.get("/identity-providers/corp").status_code == 404
    event = last_event(session)
    assert (event.actor, event.action, event.target, event.after) == (
        "user:ann", "issuer.delete", "issuer:corp", {"version": 2})


def test_an_auditor_reads_every_page_but_changes_nothing(signed_in, token, session, corp):  # type: ignore[no-untyped-def]
    auditor = signed_in("aud", "auditor")
    listing = auditor.get("/identity-providers").get_data(as_text=True)
    assert '<a href="/identity-providers">Identity providers</a>' in listing
    assert "Add an identity provider" not in listing
    detail = auditor.get("/identity-providers/corp")
    assert detail.status_code == 200
    assert "/identity-providers/corp/edit" not in detail.get_data(as_text=True)
    csrf = token(auditor, "/identity-providers")

    answers = {url: (auditor.get(url).status_code,
                     auditor.post(url, data=form(csrf, [RULE], name="other")).status_code)
               for url in ("/identity-providers/new", "/identity-providers/corp/edit",
                           "/identity-providers/corp/delete")}

    assert answers == {"/identity-providers/new": (403, 403), "/identity-providers/corp/edit": (403, 403),
                       "/identity-providers/corp/delete": (403, 403)}
    session.expire_all()
    assert get_issuer(session, "corp").as_dict() == corp
    assert configuration_version(session) == 1


def test_roles_that_cannot_read_the_configuration_are_not_offered_it(signed_in):  # type: ignore[no-untyped-def]
    reviewer = signed_in("rita", "reviewer")

    assert "Identity providers" not in reviewer.get("/dashboard").get_data(as_text=True)
    response = reviewer.get("/identity-providers")
    assert response.status_code == 403
    assert "this page needs the role admin or auditor" in response.get_data(as_text=True)


def test_an_unknown_issuer_is_a_not_found_page(signed_in):  # type: ignore[no-untyped-def]
    response = signed_in("ann", "admin").get("/identity-providers/nobody/edit")

    assert response.status_code == 404
    assert "no issuer named &#39;nobody&#39;" in response.get_data(as_text=True)


def test_an_admin_adds_an_issuer_with_a_rule_in_the_browser(page, live_server, session, password):  # type: ignore[no-untyped-def]
    create_user(session, actor="test:ui", username="ann", password=password, roles=frozenset({"admin"}))
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "ann")
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard")

    page.click("nav >> text=Identity providers")
    page.click("text=Add an identity provider")
    page.fill("#name", "corp")
    page.fill("#issuer", ISSUER)
    page.fill("#audiences", AUDIENCE)
    page.select_option("#default_tier", "verified")
    page.fill("#rules-0-claim", "groups")
    page.fill("#rules-0-value", "safety-researchers")
    page.select_option("#rules-0-tier", "trusted")
    page.click("button:has-text('Add identity provider')")
    page.wait_for_url(f"{live_server.url}/identity-providers/corp")

    assert page.locator("table.rules tbody tr").all_inner_texts() == [
        "1\tclaim groups contains safety-researchers\ttrusted", "\tno rule matches\tverified"]
    page.click("nav >> text=Identity providers")
    assert page.locator("table.issuers tbody tr").all_inner_texts() == [
        f"corp\t{ISSUER}\t{AUDIENCE}\tverified\t1\tenabled\t1"]
