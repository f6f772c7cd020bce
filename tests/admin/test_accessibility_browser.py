"""Every page of the admin UI, in real Chromium, checked by axe-core (the npm package of
tests/accessibility, injected by Playwright): no violations. New pages are found from the URL map,
so a page cannot be added without being checked: its path parameters must be known here."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from factories import LIVE, demo_keys
from flask import Flask
from npm import installed
from sqlalchemy import select

from govern.governance.access_requests import Requester, create_request
from govern.governance.demo import load_demo_governance
from govern.governance.incidents import open_incident
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import submit
from govern.governance.red_team import Participant, mitigate_finding, record_exercise, record_finding
from govern.identity.issuers import create_issuer
from govern.identity.organisations import list_orgs
from govern.identity.users import create_user, find_user
from govern.models import FeedbackReport, GovernedModel
from govern.models.base import utcnow
from govern.notifications.endpoints import add_endpoint
from govern.policy.store import current_policy

PACKAGES = Path(__file__).parents[1] / "accessibility"
# GET routes that are not pages: downloads, sign-in redirects, operations.
NOT_PAGES = {"decision_log.audit_export", "decision_log.export", "decision_log.manifest", "sso.start",
             "sso.callback", "ops.healthz", "ops.readyz", "ops.prometheus_metrics", "auth.home"}
ISSUER = {"name": "corp", "issuer": "https://login.corp.example", "audiences": ["govern"],
          "default_tier": "free", "rules": []}


def page_urls(app: Flask, values: dict[str, object]) -> list[str]:
    """A URL for every GET page of the UI; fails naming any path parameter with no value here."""
    urls, unknown = [], []
    for rule in app.url_map.iter_rules():
        if ("GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES
                or rule.endpoint == "static" or rule.rule.startswith(("/v1/", "/access/", "/.well-known/"))
                or rule.rule.startswith("/openapi")):
            continue
        missing = [name for name in rule.arguments if name not in values]
        if missing:
            unknown.append(f"{rule.endpoint} {rule.rule}: {missing}")
            continue
        urls.append(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(values[m.group(1)]), rule.rule))
    assert unknown == [], "give these path parameters a value in the accessibility test"
    return sorted(urls)


@pytest.fixture
def world(app: Flask, session, password):  # type: ignore[no-untyped-def]
    """Demo data, a decision, an issuer, a pending proposal, an access request, and two admins holding
    every role."""
    keys = demo_keys(session)
    load_demo_governance(session, actor="test:ui", facts=LIVE)
    answer = app.test_client().post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                                    headers={"Authorization": f"Bearer {keys['verified']}"})
    every_role = frozenset({"admin", "reviewer", "approver", "board", "auditor"})
    for name in ("ann", "ben"):
        create_user(session, actor="test:ui", username=name, password=password, roles=every_role)
    create_issuer(session, ISSUER, actor="test:ui")
    raised = {"name": "corp", "doc": {**ISSUER, "default_tier": "trusted"}}
    proposal = submit(session, Change("issuer.set", raised), actor="user:ann")
    model = session.execute(select(GovernedModel).where(GovernedModel.name == "frontier-1")).scalar_one()
    assert proposal.proposal is not None
    # A red-team exercise with an open and a mitigated finding: the Red team page shows every form.
    exercise = record_exercise(session, actor="user:ann", model=model, scope="jailbreaks",
                               started_on=date(2026, 11, 2), participants=[Participant(name="Eve")])
    for severity in ("high", "low"):
        finding = record_finding(session, actor="user:ann", exercise=exercise, title="DAN",
                                 category="jailbreak", severity=severity)
    mitigate_finding(session, actor="user:ann", finding=finding, mitigation="filter")
    verified = next(org for org in list_orgs(session) if org.tier == "verified")
    asking = Requester(actor="key:gvk_000000000001", tier="verified", org_id=verified.id)
    asked = create_request(session, asking, kind="tier", tier="trusted", justification="a pilot",
                           duration_seconds=3600)
    webhook = add_endpoint(session, actor="test:ui", url="https://hooks.example.com/govern",
                           event_types=["signoff.made"], secret_key=app.config["SECRET_KEY"],
                           allow_private=True)
    incident = open_incident(session, actor="user:ben", title="jailbreak wave", severity="sev2",
                             models=["frontier-1"])
    session.add(FeedbackReport(decision_id=answer.json["decision_id"], model="chat-standard",
                               subject="output", category="jailbreak", text="role-play",
                               reported_by="gvk_0123456789ab", reporter_kind="pep", received_at=utcnow(),
                               state="new", triage_note=""))
    session.commit()
    return {"request_id": asked.id, "incident_id": incident.id,
            "decision_id": answer.json["decision_id"], "name": "corp", "model_id": model.id,
            "person_id": find_user(session, "ann").person_id, "version": current_policy(session).version,
            "proposal_id": proposal.proposal.id, "endpoint_id": webhook.info.id,
            "org_id": list_orgs(session)[0].id,
            "prefix": "_".join(keys["verified"].split("_")[:2])}


def violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.add_script_tag(path=str(installed(PACKAGES, "axe-core") / "axe.min.js"))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_every_page_has_no_accessibility_violation(browser, live_server, app, world, password,  # type: ignore[no-untyped-def]
                                                   viewport):
    # axe is injected as an inline script, which the pages' CSP rightly refuses.
    page = browser.new_context(bypass_csp=True, viewport=viewport).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login")
    found = {"/login": violations(page)}
    page.fill("#username", "ann")
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard")

    for url in page_urls(app, world):
        response = page.goto(f"{live_server.url}{url}")
        assert response is not None and response.status == 200, url
        found[url] = violations(page)

    assert {url: problems for url, problems in found.items() if problems} == {}
