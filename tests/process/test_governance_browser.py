"""A whole model launch in real Chromium against a real `govern serve` (two workers): an admin
registers a model, a reviewer rates it, two reviewers recommend, an approver opens it to `verified`,
/v1/check follows on every worker; the board reverses and /v1/check follows again. Signing off and
reversing each pass through their confirmation step. A screenshot of each page is saved in the
test's output folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from govern import create_app
from govern.extensions import db
from govern.governance.checklists import ItemUpdate, update_items
from govern.governance.presets import get_preset, preset_checklist
from govern.governance.registry import find_model
from govern.identity.users import create_user

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

playwright = pytest.importorskip("playwright.sync_api")
# The pages' rules are the services', which the in-process tests hold on both databases; this one
# is about the browser, two workers and propagation, the same on either.
pytestmark = pytest.mark.sqlite_only

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PROPAGATION_BOUND = 2.0  # as in test_serve.py: every worker follows within the 1 s goal plus slack
PASSWORD = "launch-password-1234"
PEOPLE = {"ann": ["admin"], "rita": ["reviewer"], "rev1": ["reviewer"], "rev2": ["reviewer"],
          "boss": ["approver"], "bea": ["board"]}


@pytest.fixture
def browser() -> Iterator[playwright.Browser]:  # type: ignore[name-defined]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs the Debian chromium package")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


def make_people(demo_instance: DemoInstance) -> dict[str, str]:
    """The people of the launch, made through the service (`govern users create` per person would
    spend seconds each on start-up); returns name -> password."""
    app = create_app(demo_instance.env())
    with app.app_context():
        for name, roles in PEOPLE.items():
            create_user(db.session, actor="test:browser", username=name, password=PASSWORD,
                        roles=frozenset(roles))
        db.session.remove()
        db.engine.dispose()
    return dict.fromkeys(PEOPLE, PASSWORD)


def complete_checklist_of(demo_instance: DemoInstance, name: str, *, owner: str) -> None:
    app = create_app(demo_instance.env())
    with app.app_context():
        model = find_model(db.session, name)
        items = preset_checklist(get_preset(model.preset)).items
        update_items(db.session, actor="user:launch-team", model=model, updates=[
            ItemUpdate(item.id, "done", owner, f"{item.title}: see the launch plan") for item in items])
        db.session.remove()
        db.engine.dispose()


def test_a_model_launch_in_the_browser_drives_v1_check(
        browser, demo_instance: DemoInstance, live_server: Callable[..., Server], tmp_path: Path):
    secrets = make_people(demo_instance)
    server = live_server()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    pages = []

    def as_user(name: str):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{server.url}/login")
        page.fill("#username", name)
        page.fill("#password", secrets[name])
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/dashboard")
        pages.append(context)
        return page

    def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
        page.screenshot(path=str(shots / f"{len(list(shots.iterdir())) + 1:02d}-{name}.png"), full_page=True)

    def answers(tier: str) -> set[tuple[bool, str]]:
        """The answer of every worker for `tier`'s demo key on nova-1 generate, once all agree with
        `expected` or the bound has passed."""
        key = demo_instance.keys[tier]
        last = server.until_every_worker(
            lambda session: session.post(f"{server.url}/v1/check", timeout=10,
                                         json={"model": "nova-1", "capability": "generate"},
                                         headers={"Authorization": f"Bearer {key}"}),
            lambda response: (response.json()["allow"], response.json()["reason"]) == expected[tier],
            within=PROPAGATION_BOUND)
        return {(r.json()["allow"], r.json()["reason"]) for r in last.values()}

    # An admin registers nova-1 in the `open` group (the policy grants generate there to free).
    admin = as_user("ann")
    shot(admin, "dashboard")
    admin.goto(f"{server.url}/models/new")
    admin.fill("#name", "nova-1")
    admin.fill("#version", "2026-11")
    admin.fill("#owner", "research")
    admin.select_option("#model_group", "open")
    shot(admin, "register")
    admin.click("button:has-text('Register')")
    admin.wait_for_selector("h1:has-text('nova-1')")
    model_url = admin.url
    expected = {"verified": (False, "not_signed_off"), "free": (False, "not_signed_off")}
    assert answers("verified") == {expected["verified"]}

    # A reviewer rates every tracked category.
    rita = as_user("rita")
    rita.goto(f"{model_url}/scorecard")
    for category in ("cbrn", "cybersecurity", "persuasion", "model_autonomy"):
        rita.select_option("#category", category)
        rita.select_option("#pre_level", "high")
        rita.select_option("#post_level", "medium")
        rita.fill("#evidence", f"{category} evaluation suite v3; red-team report")
        rita.fill("#links", "https://example.org/evals/nova-1")
        with rita.expect_navigation():
            rita.click("button:has-text('Save rating')")
    assert rita.locator(".scorecard .badge.gate-deployable").count() == 1
    shot(rita, "scorecard")

    # The launch team records the checklist (through the service: eight forms add nothing to this
    # flow; tests/admin/test_checklist_pages.py drives the form). The live checks pass on the demo
    # instance: it has rate limits, an escalation path and the feedback intake on.
    complete_checklist_of(demo_instance, "nova-1", owner="ann")

    # Two other reviewers recommend opening to verified.
    for name in ("rev1", "rev2"):
        reviewer = as_user(name)
        reviewer.goto(model_url)
        reviewer.check("input[name=recommendation][value=open]")
        reviewer.select_option("#tier", "verified")
        reviewer.fill("#rationale", "post-mitigation medium everywhere; safeguards verified")
        reviewer.click("button:has-text('Record recommendation')")
        reviewer.wait_for_selector(f"td:has-text('user:{name}')")
    shot(reviewer, "reviews")

    # The approver opens nova-1 to verified.
    boss = as_user("boss")
    boss.goto(model_url)
    boss.select_option("#tier", "verified")
    boss.fill("#conditions", "monitor misuse reports weekly")
    boss.click("button:has-text('Sign off')")
    boss.wait_for_selector("table.preview")  # what each tier will be able to do, before confirming
    boss.click("button:has-text('Confirm sign-off')")
    boss.wait_for_selector(".badge.open:has-text('open to verified and above')")
    shot(boss, "signed-off")
    expected = {"verified": (True, "granted_by_tier"), "free": (False, "signoff_below_tier")}
    assert answers("verified") == {expected["verified"]}
    assert answers("free") == {expected["free"]}

    # The board reverses the sign-off.
    bea = as_user("bea")
    bea.goto(model_url)
    bea.fill("#reverse-rationale", "the launch review missed the bio uplift study")
    bea.click("button:has-text('Reverse sign-off')")
    bea.click("button:has-text('Confirm reversal')")
    bea.wait_for_selector("td:has-text('reversed by user:bea')")
    shot(bea, "reversed")
    expected = {"verified": (False, "not_signed_off"), "free": (False, "not_signed_off")}
    assert answers("verified") == {expected["verified"]}

    bea.goto(f"{model_url}/timeline")
    shot(bea, "timeline")
    actions = bea.locator("table.events td:nth-child(4)").all_inner_texts()
    assert actions[:4] == ["model.reverse_sign_off", "model.sign_off", "model.review", "model.review"]
    bea.goto(f"{server.url}/audit")
    shot(bea, "audit")
    bea.goto(f"{server.url}/dashboard")
    assert bea.locator("svg.chart polyline").count() >= 1
    shot(bea, "dashboard-after")

    for context in pages:
        context.close()
    assert len(list(shots.glob("*.png"))) == 9
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
