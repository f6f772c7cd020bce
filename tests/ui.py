"""Signing in to the admin UI through its real login form, CSRF token and all."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from flask import g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PASSWORD = "a-long-password-123"
TOKEN = re.compile(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"|'
                   r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the first form on the page at `url` (after redirects)."""
    # The `app` fixture holds one app context for the whole test, so flask.g outlives each request;
    # Flask-WTF caches the token in g and would not put it into this client's session otherwise.
    g.pop("csrf_token", None)
    match = TOKEN.search(client.get(url, follow_redirects=True).get_data(as_text=True))
    assert match is not None, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


def screenshot(page: Any, name: str) -> None:
    """Save `page` as docs/screenshots/NAME.png, only when GOVERN_SCREENSHOTS is set (to any value):
    a plain test run writes nothing into the checkout."""
    if os.environ.get("GOVERN_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def browser_sign_in(browser: Any, base_url: str, username: str, password: str = PASSWORD,
                    **context: Any) -> Any:
    """A Chromium page (in a new context with `context` options) signed in through the login form,
    on the dashboard."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard")
    return page
