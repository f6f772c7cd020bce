"""An access request in real Chromium: an organisation denied frontier-1 asks for it over HTTP; one
admin approves it on the request's page, a second admin approves it there too; the organisation
is allowed until the grant expires, and the page links the deny, the proposal and the first
allowed decision, then shows the grant expired."""

from __future__ import annotations

import time
from typing import Any

import requests
from factories import add_models, make_key
from ui import browser_sign_in, screenshot

from govern.identity.users import create_user

FRONTIER = {"model": "frontier-1", "capability": "generate"}
GRANT_SECONDS = 4


def check(base_url: str, key: str) -> dict[str, Any]:
    response = requests.post(f"{base_url}/v1/check", json=FRONTIER, timeout=10,
                             headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def poll(ask: Any, done: Any, limit: float) -> Any:
    deadline = time.monotonic() + limit
    answer = ask()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = ask()
    return answer


def test_a_request_is_approved_by_two_admins_on_its_page_and_expires(  # type: ignore[no-untyped-def]
        browser, live_server, session, password):
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    for name in ("ann", "ben"):
        create_user(session, actor="test:ui", username=name, password=password, roles=frozenset({"admin"}))
    base = live_server.url
    denied = check(base, key)
    assert denied["access_request"]["would_allow"] == {"tier": "trusted"}
    made = requests.post(denied["access_request"]["url"].replace("http://127.0.0.1:8000", base), timeout=10,
                         headers={"Authorization": f"Bearer {key}"},
                         json={"kind": "capability", "decision_id": denied["decision_id"],
                               "justification": "support desk pilot", "duration_seconds": GRANT_SECONDS})
    assert made.status_code == 201
    request_id = made.json()["id"]

    ann = browser_sign_in(browser, base, "ann", password)
    ann.click("nav >> text=Access requests")
    row = ann.locator(f"#access-request-{request_id}")
    assert "acme" in row.inner_text() and "pending" in row.inner_text()
    row.locator("a").click()
    ann.wait_for_url(f"{base}/access-requests/{request_id}")
    assert ann.locator("#trail-deny").inner_text().split("\t")[1] == denied["decision_id"]
    assert "support desk pilot" in ann.locator("blockquote").inner_text()
    ann.click("button:has-text('Approve')")
    ann.wait_for_url(f"{base}/access-requests/{request_id}")
    assert ann.locator("#request-status").inner_text() == "pending"
    assert "You approved this" in ann.content()
    assert ann.locator("button:has-text('Approve')").count() == 0
    assert check(base, key)["allow"] is False

    ben = browser_sign_in(browser, base, "ben", password)
    ben.goto(f"{base}/access-requests/{request_id}")
    ben.fill("input[name=reason]", "pilot agreed")
    ben.click("button:has-text('Approve as second admin')")
    ben.wait_for_url(f"{base}/access-requests/{request_id}")
    assert ben.locator("#request-status").inner_text() == "granted"
    assert "applied (two person)" in ben.locator("#trail-decision").inner_text()

    allowed = poll(lambda: check(base, key), lambda answer: answer["allow"], 2.0)
    assert allowed["allow"] is True
    ben.reload()
    assert allowed["decision_id"] in ben.locator("#trail-first-allowed").inner_text()
    screenshot(ben, "access-request")

    after = poll(lambda: check(base, key), lambda answer: not answer["allow"], GRANT_SECONDS + 2.0)
    assert after["reason"] == "tier_too_low"
    ben.reload()
    assert ben.locator("#request-status").inner_text() == "expired"
