"""Errors are pages for a browser and problem JSON for a program, everywhere: unknown paths, static
files, UI pages, and the unexpected."""

from __future__ import annotations

import pytest

from govern.admin import dashboard
from govern.admin.security import CSP

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PROGRAM = {"Accept": "application/json"}


@pytest.mark.parametrize("path", ["/no-such-page", "/static/no-such.css", "/models/no/such/page"])
def test_a_browser_gets_an_html_page_for_an_unknown_path(client, path):
    response = client.get(path, headers=PAGE)

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in text and "The requested URL was not found" in text
    assert response.headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize("headers", [PROGRAM, {}])
def test_a_program_gets_problem_json_for_an_unknown_path(client, headers):
    response = client.get("/no-such-page", headers=headers)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "not_found"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/v1/no-such-endpoint", 404, "not_found"),
    ("GET", "/v1/check", 405, "method_not_allowed"),
    ("GET", "/access/v1/evaluation", 405, "method_not_allowed"),
])
def test_an_api_path_answers_problem_json_even_to_a_browser(client, method, path, status, code):
    response = client.open(path, method=method, headers=PAGE)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code


def test_a_page_refused_for_a_role_is_an_html_403_for_any_client(signed_in):
    reviewer = signed_in("rita", "reviewer")

    response = reviewer.get("/people", headers=PROGRAM)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "<h1>Not allowed</h1>" in response.get_data(as_text=True)


def test_an_unexpected_error_on_a_page_is_an_html_500_without_a_trace(signed_in, monkeypatch):
    admin = signed_in("ann", "admin")

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(dashboard, "all_overviews", broken)
    response = admin.get("/dashboard", headers=PAGE)

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "an unexpected error occurred; it has been logged" in text
    assert "secret internals" not in text and "Traceback" not in text
