"""Bad input the JSON API must refuse with a problem body (never a 5xx, never silently):
empty query parameters, null where a PATCH means "unchanged", path ids past the database's
integers, and 405 answers that say which methods are allowed."""

from __future__ import annotations

import pytest
from factories import make_org


@pytest.mark.parametrize("query", ["until=", "since=", "model=", "result=", "cursor=", "org="])
@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/decisions/export"])
def test_an_empty_query_parameter_is_a_400_but_the_admin_page_form_may_send_it(app, client, auditor, ui_login,
                                                                               path, query):
    response = client.get(f"{path}?{query}", headers=auditor)

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "invalid_field"
    assert query.rstrip("=") in response.json["message"]
    browser = app.test_client()
    ui_login(browser, "dora", frozenset({"auditor"}))
    assert browser.get("/decisions?until=&since=&model=&result=&org=").status_code == 200


@pytest.mark.parametrize("field", ["tier", "name", "suspended"])
def test_patch_organisation_refuses_null(client, session, admin, field):
    org_id = make_org(session, "acme", "verified")

    response = client.patch(f"/v1/admin/organisations/{org_id}", json={field: None}, headers=admin)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"
    assert f"'{field}' must not be null" in response.json["message"]
    shown = client.get(f"/v1/admin/organisations/{org_id}", headers=admin).json
    assert (shown["name"], shown["tier"], shown["suspended"]) == ("acme", "verified", False)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("org_id", ["2147483648", "99999999999", "9" * 30])
def test_an_organisation_id_past_32_bits_is_a_404(client, admin, method, org_id):
    response = client.open(f"/v1/admin/organisations/{org_id}", method=method, json={} if method == "PATCH"
                           else None, headers=admin)

    assert response.status_code == 404
    assert response.json["code"] == "org_not_found"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/v1/check", {"POST"}),
    ("GET", "/access/v1/evaluation", {"POST"}),
    ("POST", "/v1/admin/organisations/1", {"GET", "HEAD", "PATCH", "DELETE"}),
    ("DELETE", "/.well-known/authzen-configuration", {"GET", "HEAD"}),
])
def test_a_405_names_the_allowed_methods(client, method, path, allowed):
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) - {"OPTIONS"} == allowed
