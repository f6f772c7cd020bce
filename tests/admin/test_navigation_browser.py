"""The navigation in real Chromium: on a 390 px phone the links fold into a menu that opens and
leads somewhere, no page is wider than the screen, and the keyboard reaches content first."""

from __future__ import annotations

from ui import browser_sign_in, screenshot

from govern.identity.users import create_user

PHONE = {"width": 390, "height": 844}


def signed_in(browser, live_server, session, password, viewport):  # type: ignore[no-untyped-def]
    create_user(session, actor="test:ui", username="ann", password=password, roles=frozenset({"admin"}))
    return browser_sign_in(browser, live_server.url, "ann", password, viewport=viewport)


def test_on_a_phone_the_links_fold_into_a_menu_that_opens(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    page = signed_in(browser, live_server, session, password, PHONE)
    menu, people = page.locator("button.menu-button"), page.locator("#site-nav >> text=People")

    assert menu.is_visible() and menu.get_attribute("aria-expanded") == "false"
    assert not people.is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    screenshot(page, "phone-menu")
    people.click()
    page.wait_for_url(f"{live_server.url}/people")
    assert page.locator("h1").first.is_visible()


def test_no_page_is_wider_than_a_phone(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    page = signed_in(browser, live_server, session, password, PHONE)

    for path in ("/dashboard", "/models", "/audit", "/decisions", "/identity-providers", "/proposals",
                 "/access-requests", "/people", "/organisations", "/keys", "/keys/service"):
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)


def test_on_a_wide_screen_the_links_show_without_a_menu(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    page = signed_in(browser, live_server, session, password, {"width": 1600, "height": 900})

    assert not page.locator("button.menu-button").is_visible()
    assert page.locator("#site-nav >> text=People").is_visible()
    assert page.evaluate("document.querySelector('main').getBoundingClientRect().width") > 1180


def test_the_first_tab_offers_to_skip_to_the_content(browser, live_server, session, password):  # type: ignore[no-untyped-def]
    page = signed_in(browser, live_server, session, password, PHONE)

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator("a.skip").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

