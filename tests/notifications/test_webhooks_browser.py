"""Registering a webhook and replaying a delivery in real Chromium."""

from __future__ import annotations

from factories import make_signed_model
from ui import PASSWORD, browser_sign_in, screenshot
from webhook_receiver import webhook_receiver

from govern.identity.users import create_user
from govern.notifications.dispatcher import DispatchConfig, run_once


def test_an_admin_registers_a_webhook_and_replays_its_delivery(app, browser, live_server, session):  # type: ignore[no-untyped-def]
    create_user(session, actor="test:ui", username="ann", password=PASSWORD, roles=frozenset({"admin"}))
    config = DispatchConfig.from_settings(app.extensions["govern.settings"])
    with webhook_receiver() as receiver:
        page = browser_sign_in(browser, live_server.url, "ann", PASSWORD)
        page.click("#site-nav >> text=Webhooks")
        page.wait_for_url(f"{live_server.url}/webhooks")
        page.fill("#url", receiver.url)
        page.fill("#description", "release bot")
        page.check("input[value='signoff.made']")
        page.click("button:has-text('Add endpoint')")
        secret = page.input_value("#secret")
        assert secret.startswith("whsec_")
        receiver.secret = secret
        page.click("text=I have stored it: go to the endpoint")
        assert secret not in page.content()

        make_signed_model(session)
        run_once(session, config)
        page.reload()
        row = page.locator("table.deliveries tbody tr").first
        assert "delivered" in row.inner_text() and "signoff.made" in row.inner_text()
        screenshot(page, "webhook-deliveries")
        row.locator("button:has-text('Replay')").click()
        assert page.locator("text=will be sent again").is_visible()
        run_once(session, config)
        assert len(receiver.received) == 2
        assert receiver.ids()[0] == receiver.ids()[1] and all(item.verified for item in receiver.received)
        page.reload()
        assert page.locator("table.deliveries tbody tr").first.locator("td").nth(4).inner_text() == "2"
