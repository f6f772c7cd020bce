"""Security of the admin UI: headers, session cookie, CSRF, throttled sign-in, a sign-out that ends
the session on the server, and an auditor who cannot change anything through any route."""

from __future__ import annotations

import re

import pytest
from factories import demo_keys, make_governed_model, ready_sign_off
from sqlalchemy import func, select

from govern import create_app
from govern.extensions import db
from govern.governance.reviews import record_review
from govern.models import AuditEvent

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Signing in and out, and asking for access decisions (they change nothing but the decision log).
# Decision endpoints (a key asks, nothing changes) and signing in or out.
# The playground is posted to but answers a question: it changes nothing, and auditors may ask.
# Each person, auditors too, chooses which notification e-mails they receive: their own mail only.
NOT_CHANGES = ("auth.login", "auth.logout", "check.", "authzen.", "authorize.", "sso.", "playground.",
               "admin_playground.", "notifications.save")


def test_pages_carry_a_strict_content_security_policy(signed_in):  # type: ignore[no-untyped-def]
    client = signed_in("aud", "auditor")
    for url in ("/login", "/dashboard", "/models", "/identity-providers", "/decisions",
                "/login/sso/no-such-provider", "/static/govern.css"):
        response = client.get(url)
        response.close()
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_template_has_inline_script_or_style():
    from govern.resources import resource_dir

    for path in resource_dir("templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\sstyle=|<style", text), path
        assert not re.search(r"\son[a-z]+=", text), path


def test_the_session_cookie_is_httponly_lax_and_secure_when_configured(signed_in, env):  # type: ignore[no-untyped-def]
    client = signed_in("aud", "auditor")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    app = create_app({**env, "GOVERN_COOKIE_SECURE": "true"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():
        db.engine.dispose()


def test_a_form_without_its_csrf_token_is_refused(signed_in, session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", post="medium", rater="user:someone")
    rita = signed_in("rita", "reviewer")
    response = rita.post(f"/models/{model.id}/reviews",
                         data={"recommendation": "reject", "rationale": "no"})
    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)


def test_a_copied_cookie_stops_working_after_sign_out(signed_in, app, token):  # type: ignore[no-untyped-def]
    client = signed_in("aud", "auditor")
    copied = client.get_cookie("session").value  # type: ignore[union-attr]
    assert client.post("/logout", data={"csrf_token": token(client, "/dashboard")}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_repeated_failed_sign_ins_are_throttled_even_with_the_right_password(  # type: ignore[no-untyped-def]
        signed_in, app, token, password):
    signed_in("aud", "auditor")
    client = app.test_client()
    for _ in range(5):
        page = client.post("/login", data={"username": "aud", "password": "wrong-password-1",
                                           "csrf_token": token(client, "/login")})
        assert "Unknown username or wrong password." in page.get_data(as_text=True)
    page = client.post("/login", data={"username": "aud", "password": password,
                                       "csrf_token": token(client, "/login")})
    assert page.status_code == 429
    assert re.search(r"Too many failed sign-ins. Try again in \d+ seconds.", page.get_data(as_text=True))


@pytest.fixture
def governed_world(session):  # type: ignore[no-untyped-def]
    """Demo keys, and a model with a sign-off in force: something for every route to act on."""
    demo_keys(session)
    model = make_governed_model(session, name="gpt-x", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="ok")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    return {"model_id": model.id, "sign_off_id": signed.id}


def test_an_auditor_cannot_change_anything_through_any_route(app, signed_in, session, token,  # type: ignore[no-untyped-def]
                                                             governed_world):
    auditor = signed_in("aud", "auditor")
    events_before = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    csrf = token(auditor, "/dashboard")
    checked = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & MUTATING
        if not methods or rule.endpoint.startswith(NOT_CHANGES):
            continue
        values = {name: governed_world.get(name, 1 if "int" in rule.rule else "x")
                  for name in rule.arguments}
        built = rule.build(values, append_unknown=False)
        assert built is not None
        url = built[1]
        for method in sorted(methods):
            response = auditor.open(url, method=method, data={"csrf_token": csrf, "rationale": "stop",
                                                             "tier": "free", "recommendation": "open",
                                                             "evidence": "e", "category": "cbrn"},
                                    headers={"X-CSRFToken": csrf})
            assert response.status_code in (401, 403), (method, url, response.status_code)
            checked.append(f"{method} {rule.rule}")
    session.expire_all()
    assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events_before
    ui = {entry for entry in checked if not entry.split()[1].startswith(("/v1/", "/access/"))}
    assert ui == {"POST /models/new", "POST /models/<int:model_id>/reviews",
                  "POST /models/<int:model_id>/sign-offs", "POST /models/<int:model_id>/scorecard",
                  "POST /models/<int:model_id>/sign-offs/<int:sign_off_id>/reverse",
                  "POST /models/<int:model_id>/suspension", "POST /models/<int:model_id>/hold/release",
                  "POST /models/<int:model_id>/versions", "POST /models/<int:model_id>/retirement",
                  "POST /models/<int:model_id>/red-team/exercises",
                  "POST /models/<int:model_id>/red-team/exercises/<int(max=2147483647):exercise_id>/findings",
                  "POST /models/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/mitigate",
                  "POST /models/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/accept",
                  "POST /models/<int:model_id>/red-team/findings/<int(max=2147483647):finding_id>/reopen",
                  "POST /models/<int:model_id>/checklist", "POST /models/<int:model_id>/re-reviews",
                  "POST /identity-providers/new",
                  "POST /identity-providers/<name>/edit", "POST /identity-providers/<name>/delete",
                  "POST /proposals/<int(max=2147483647):proposal_id>/approve",
                  "POST /proposals/<int(max=2147483647):proposal_id>/reject",
                  "POST /proposals/<int(max=2147483647):proposal_id>/withdraw",
                  "POST /access-requests/<int(max=2147483647):request_id>/approve",
                  "POST /access-requests/<int(max=2147483647):request_id>/reject",
                  "POST /people/<int(max=2147483647):person_id>/edit",
                  "POST /people/<int(max=2147483647):person_id>/disable",
                  "POST /people/<int(max=2147483647):person_id>/enable",
                  "POST /people/accounts/<int(max=2147483647):user_id>/roles",
                  "POST /people/accounts/<int(max=2147483647):user_id>/roles/<role>/remove",
                  "POST /people/accounts/<int(max=2147483647):user_id>/person",
                  "POST /people/accounts/<int(max=2147483647):user_id>/password",
                  "POST /people/accounts/<int(max=2147483647):user_id>/unlock", "POST /people/accounts",
                  "POST /organisations/new", "POST /organisations/<int(max=2147483647):org_id>/tier",
                  "POST /organisations/<int(max=2147483647):org_id>/suspend",
                  "POST /organisations/<int(max=2147483647):org_id>/lift",
                  "POST /organisations/<int(max=2147483647):org_id>/delete",
                  "POST /keys/service", "POST /keys/service/admin",
                  "POST /keys/new/<int(max=2147483647):org_id>",
                  "POST /keys/<string(maxlength=64):prefix>/cap",
                  "POST /keys/<string(maxlength=64):prefix>/expiry",
                  "POST /keys/<string(maxlength=64):prefix>/suspend",
                  "POST /keys/<string(maxlength=64):prefix>/lift",
                  "POST /keys/<string(maxlength=64):prefix>/rotate",
                  "POST /keys/<string(maxlength=64):prefix>/revoke",
                  "POST /policy/preview", "POST /policy/apply", "POST /webhooks",
                  "POST /webhooks/<int(max=2147483647):endpoint_id>/types",
                  "POST /webhooks/<int(max=2147483647):endpoint_id>/enable",
                  "POST /webhooks/<int(max=2147483647):endpoint_id>/disable",
                  "POST /webhooks/<int(max=2147483647):endpoint_id>/delete",
                  "POST /webhooks/<int(max=2147483647):endpoint_id>/deliveries/"
                  "<int(max=2147483647):delivery_id>/replay",
                  "POST /incidents",
                  *(f"POST /incidents/<int(max=2147483647):incident_id>/{step}" for step in (
                      "notes", "severity", "state", "suspend-model", "key", "org", "link", "reviews")),
                  *(f"POST /feedback/<int(max=2147483647):report_id>/{step}" for step in (
                      "triage", "incident", "join"))}
    assert len(checked) > len(ui)  # the admin API's mutations are covered too
