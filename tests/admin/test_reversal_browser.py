"""A reversal that holds, in real Chromium: the board reverses (after a confirmation step), the model
page shows what the hold waits for, the approver is refused, two fresh reviews come in, the board
releases the hold, and the approver signs off again through the preview of what each tier will be
able to do; /v1/check follows. Screenshots of the held page and of the preview are saved in the test's
output folder."""

from __future__ import annotations

import re
import time

import requests
from factories import make_escalation_path, make_governed_model, make_key, ready_sign_off
from ui import PASSWORD

from govern.governance.reviews import record_review
from govern.identity.users import create_user

PEOPLE = {"bea": "board", "boss": "approver", "rev3": "reviewer", "rev4": "reviewer"}
PROPAGATION_BOUND = 2.0  # seconds: every change reaches the decision plane within 1 s, plus slack
HELD = r"Held since the board's reversal on \d{4}-\d\d-\d\d \d\d:\d\d UTC: "


def test_reverse_hold_fresh_reviews_release_and_sign_off_with_the_preview(app, browser, live_server,  # type: ignore[no-untyped-def]
                                                                         session, tmp_path):
    verified_key = make_key(session, "org-v", tier="verified")
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)  # the checklist's live check
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    for reviewer in ("user:rev1", "user:rev2"):
        record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                      rationale="ok")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    for name, role in PEOPLE.items():
        create_user(session, actor="test:browser", username=name, password=PASSWORD, roles=frozenset({role}))
    model_url = f"{live_server.url}/models/{model.id}"
    contexts = []

    def as_user(name: str):  # type: ignore[no-untyped-def]
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{live_server.url}/login")
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/dashboard")
        page.goto(model_url)
        return page

    def check(expected: tuple[bool, str]) -> tuple[bool, str]:
        """verified's answer on gpt-x, once it is `expected` or the propagation bound has passed."""
        deadline = time.monotonic() + PROPAGATION_BOUND
        while True:
            answer = requests.post(f"{live_server.url}/v1/check", timeout=10,
                                   json={"model": "gpt-x", "capability": "generate"},
                                   headers={"Authorization": f"Bearer {verified_key}"}).json()
            got = answer["allow"], answer["reason"]
            if got == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    assert check((True, "granted_by_tier")) == (True, "granted_by_tier")

    # The board reverses, through the confirmation step.
    bea = as_user("bea")
    bea.fill("#reverse-rationale", "the launch review missed the bio uplift study")
    bea.click("button:has-text('Reverse sign-off')")
    bea.wait_for_selector("h2:has-text('Reverse sign-off #1 of gpt-x?')")
    assert "reversed" not in bea.locator("main").inner_text()
    bea.click("button:has-text('Confirm reversal')")
    bea.wait_for_selector(".notice.done:has-text('Reversed sign-off #1 of gpt-x')")
    assert re.fullmatch(HELD + "needs 2 reviews recommending to open recorded after it \\(0 so far\\) and a "
                        "board member's release.", bea.inner_text("#hold"))
    assert check((False, "not_signed_off")) == (False, "not_signed_off")

    # The approver cannot sign off again on the old reviews.
    boss = as_user("boss")
    boss.select_option("#tier", "verified")
    boss.click("button:has-text('Sign off')")
    boss.wait_for_selector("p.error:has-text('Held since the board')")
    assert "needs 2 reviews recommending verified or a lower tier" in boss.inner_text("p.error")

    # Two fresh reviews.
    for name in ("rev3", "rev4"):
        reviewer = as_user(name)
        reviewer.check("input[name=recommendation][value=open]")
        reviewer.select_option("#tier", "verified")
        reviewer.fill("#rationale", "the bio uplift study shows no uplift")
        reviewer.click("button:has-text('Record recommendation')")
        reviewer.wait_for_selector(".notice.done:has-text('Recorded your recommendation on gpt-x')")
    assert re.fullmatch(HELD + "needs a board member's release.", reviewer.inner_text("#hold"))
    reviewer.screenshot(path=str(tmp_path / "held.png"), full_page=True)

    # The board releases the hold.
    bea.goto(model_url)
    bea.fill("#release-rationale", "the study is in and reviewed")
    bea.click("button:has-text('Release the hold')")
    bea.wait_for_selector(".notice.done:has-text('Released the hold on gpt-x')")
    # Released, but not signed off yet.
    assert check((False, "not_signed_off")) == (False, "not_signed_off")

    # The approver signs off again, seeing what each tier will be able to do first.
    boss.goto(model_url)
    assert "an approver may sign off again" in boss.inner_text("#hold")
    boss.select_option("#tier", "verified")
    boss.click("button:has-text('Sign off')")
    boss.wait_for_selector("h2:has-text('Sign off gpt-x for verified and every tier above?')")
    rows = [row.split("\t") for row in boss.locator("table.preview tbody tr").all_inner_texts()]
    assert rows == [["free", "stays closed", "nothing", "nothing"],
                    ["verified", "opened", "generate", "generate"],
                    ["trusted", "opened", "generate, fine_tune, tools", "generate, fine_tune, tools"],
                    ["internal", "reaches it without a sign-off", "generate, fine_tune, tools",
                     "generate, fine_tune, tools"]]
    # Nothing changes before the confirmation.
    assert check((False, "not_signed_off")) == (False, "not_signed_off")
    boss.screenshot(path=str(tmp_path / "sign-off-preview.png"), full_page=True)
    boss.click("button:has-text('Confirm sign-off')")
    boss.wait_for_selector(".notice.done:has-text('Signed off gpt-x: open to verified and above, and "
                           "the hold is ended.')")
    assert boss.locator("#hold").count() == 0
    assert check((True, "granted_by_tier")) == (True, "granted_by_tier")
    for context in contexts:
        context.close()
