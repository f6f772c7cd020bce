"""The auditor role is read-only everywhere: every route of the app that changes something (POST,
PUT, PATCH, DELETE in app.url_map, whoever added it) refuses an auditor, signed in with a session
and a valid CSRF token or calling with their admin-kind key, and the audit trail does not move."""

from __future__ import annotations

import re

import pytest
from factories import make_user_key
from sqlalchemy import func, select

from govern.models import AuditEvent

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
# Signing in and out changes only the caller's own session.
OWN_SESSION = {"auth.login", "auth.logout"}
# Each person chooses which notification e-mails they receive, auditors too: their own mail only.
OWN_CHOICES = {"notifications.save"}
# The playground is posted to but only answers a question (auditors may ask; it records nothing).
QUESTIONS = {"playground.index", "admin_playground.ask"}
# Asking for an access decision needs a client key: an auditor's key is refused (401 key_wrong_kind).
REFUSED = {401, 403}
# A body a decision endpoint would accept, so a refusal is for who asks, not for what is asked.
BODY = {"model": "open-7b", "capability": "generate",
        "checks": [{"model": "open-7b", "capability": "generate"}],
        "subject": {"type": "organisation", "id": "acme"}, "resource": {"type": "model", "id": "open-7b"},
        "action": {"name": "generate"}}


def mutating_routes(app) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) of every mutating route, path arguments filled with 1."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OWN_SESSION | OWN_CHOICES | QUESTIONS or rule.endpoint == "static":
            continue
        url = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule)
        routes += [(method, url, rule.endpoint) for method in sorted(rule.methods & set(MUTATING))]
    return routes


def audit_events(session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_the_route_list_covers_the_admin_api(app):
    found = {(method, url) for method, url, _ in mutating_routes(app)}

    assert {("PUT", "/v1/admin/policy"), ("POST", "/v1/admin/keys"),
            ("DELETE", "/v1/admin/organisations/1"), ("POST", "/v1/check")} <= found


def test_every_mutating_route_refuses_an_auditors_session(app, client, session, ui_login):
    token = ui_login(client, "audrey", frozenset({"auditor"}))
    before = audit_events(session)

    answers = {(method, url): client.open(url, method=method, headers={"X-CSRFToken": token},
                                          json=BODY).status_code
               for method, url, _ in mutating_routes(app)}

    allowed = {route: status for route, status in answers.items() if status not in REFUSED}
    assert allowed == {}
    assert audit_events(session) == before


def test_every_mutating_route_refuses_an_auditors_key(app, client, session):
    key = make_user_key(session, "audrey", frozenset({"auditor"}))
    before = audit_events(session)

    answers = {(method, url): client.open(url, method=method, json=BODY,
                                          headers={"Authorization": f"Bearer {key}"})
               for method, url, _ in mutating_routes(app)}

    # The UI's pages know only sessions: without one, a form post fails its CSRF check (400) first.
    allowed = {route: response.status_code for route, response in answers.items()
               if response.status_code not in REFUSED
               and not (response.status_code == 400 and b"CSRF" in response.get_data())}
    assert allowed == {}
    assert audit_events(session) == before


@pytest.mark.parametrize("path", ["/decisions", "/exports", "/policy-versions/1", "/v1/decisions",
                                  "/identity-providers", "/v1/admin/issuers"])
def test_the_auditor_may_read(client, ui_login, path):
    ui_login(client, "audrey", frozenset({"auditor"}))

    assert client.get(path).status_code == 200
