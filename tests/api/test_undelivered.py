"""No allow on record that nobody received, over HTTP. /v1/check answers 503 when its commit waits
on a locked decision log past the timeout; once the lock goes the row lands anyway and is marked
not delivered. The decision API (and its filter), the explorer and both signed exports show it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from databases import decision_log_locked
from factories import add_models, make_key
from playwright.sync_api import Page, expect
from ui import PASSWORD

from govern.audit.export_files import read_rows, verify_export
from govern.audit.signing import load_public_key
from govern.identity.users import create_user

MARK_BOUND = 10.0  # seconds the mark may take to follow its row
STANDARD_GENERATE = {"model": "chat-standard", "capability": "generate"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # A request gives up after twice this; the lock in the tests holds its commit for longer.
    return {**env, "GOVERN_DECISION_LOG_TIMEOUT": "0.3"}


def decisions(client, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    response = client.get("/v1/decisions", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return list(response.json["decisions"])


def refused_while_locked(client, database_url: str, path: str, body: dict[str, Any],
                         headers: dict[str, str]) -> None:
    """POST `body` to `path` while the decision log is locked: the answer must be a 503."""
    with decision_log_locked(database_url):
        refused = client.post(path, json=body, headers=headers)
        assert refused.status_code == 503, refused.json
        assert refused.json["code"] == "decision_log_unavailable"


def marked_rows(client, auditor: dict[str, str], count: int) -> list[dict[str, Any]]:
    """The rows marked not delivered, once there are `count` of them (within the bound)."""
    deadline = time.monotonic() + MARK_BOUND
    marked = decisions(client, auditor, delivered="false")
    while len(marked) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        marked = decisions(client, auditor, delivered="false")
    assert len(marked) == count, "the rows that landed after their 503 were not marked within the bound"
    return marked


@pytest.fixture
def key(session) -> dict[str, str]:
    add_models(session)
    return {"Authorization": f"Bearer {make_key(session, 'acme', tier='verified')}"}


@pytest.fixture
def late(client, database_url, auditor, key) -> dict[str, str]:
    """{"on_time": id, "late": id}: acme's first allow was answered; its second answered 503
    while its commit waited on the lock, and landed when the lock went."""
    answered = client.post("/v1/check", json=STANDARD_GENERATE, headers=key)
    assert (answered.status_code, answered.json["allow"]) == (200, True), answered.json
    refused_while_locked(client, database_url, "/v1/check", STANDARD_GENERATE, key)
    late_id = marked_rows(client, auditor, 1)[0]["decision_id"]
    return {"on_time": answered.json["decision_id"], "late": late_id}


def test_every_row_of_a_batch_that_answered_503_is_marked_denies_too(client, database_url, auditor, key):
    checks = [STANDARD_GENERATE, {"model": "frontier-1", "capability": "generate"}, STANDARD_GENERATE]
    refused_while_locked(client, database_url, "/v1/check/batch", {"checks": checks}, key)

    rows = marked_rows(client, auditor, 3)

    assert sorted((row["model"], row["allow"]) for row in rows) == [
        ("chat-standard", True), ("chat-standard", True), ("frontier-1", False)]
    assert len(decisions(client, auditor)) == 3  # nothing else was written


def test_the_row_of_a_503_is_marked_not_delivered_and_keeps_its_allow(client, late, auditor):
    rows = {row["decision_id"]: row for row in decisions(client, auditor)}

    assert set(rows) == {late["on_time"], late["late"]}
    assert (rows[late["late"]]["allow"], rows[late["late"]]["reason"], rows[late["late"]]["delivered"]) == (
        True, "granted_by_tier", False)
    assert (rows[late["on_time"]]["allow"], rows[late["on_time"]]["delivered"]) == (True, True)


def test_the_delivered_filter_finds_each_side(client, late, admin):
    assert [row["decision_id"] for row in decisions(client, admin, delivered="false")] == [late["late"]]
    assert [row["decision_id"] for row in decisions(client, admin, delivered="true")] == [late["on_time"]]
    assert [row["decision_id"] for row in decisions(client, admin, delivered="false", result="allow",
                                                    model="chat-standard")] == [late["late"]]


@pytest.mark.parametrize("value", ["no", "0", "False", ""])
def test_a_delivered_filter_that_is_not_true_or_false_is_refused(client, auditor, value):
    response = client.get("/v1/decisions", query_string={"delivered": value}, headers=auditor)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def exported(client, headers: dict[str, str], tmp_path: Path, fmt: str, **query: str
             ) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    response = client.get("/v1/decisions/export", query_string={"format": fmt, **query}, headers=headers)
    assert response.status_code == 200, response.data
    file = tmp_path / f"export.{fmt}"
    file.write_bytes(response.get_data())
    manifest = client.get(f"/v1/exports/{response.headers['X-Govern-Export-Id']}/manifest", headers=headers)
    assert manifest.status_code == 200, manifest.json
    return list(read_rows(file, fmt)), manifest.json, file


@pytest.mark.parametrize(("fmt", "shown"), [("csv", {"true": "true", "false": "false"}),
                                            ("jsonl", {"true": True, "false": False})])
def test_both_exports_carry_the_mark_and_still_verify(client, late, auditor, tmp_path, fmt, shown):
    rows, manifest, file = exported(client, auditor, tmp_path, fmt)
    public_key = load_public_key(client.get("/v1/exports/public-key").get_data(as_text=True))

    assert "delivered" in manifest["columns"]
    assert [(row["decision_id"], row["allow"], row["delivered"]) for row in rows] == [
        (late["on_time"], shown["true"], shown["true"]), (late["late"], shown["true"], shown["false"])]
    assert verify_export(file, manifest, public_key).rows == 2

    only, manifest, file = exported(client, auditor, tmp_path, fmt, delivered="false")
    assert [row["decision_id"] for row in only] == [late["late"]]
    assert manifest["filters"] == {"delivered": False}
    assert verify_export(file, manifest, public_key).rows == 1


def test_the_explorer_shows_a_badge_on_the_undelivered_row_only(client, late, ui_login):
    ui_login(client, "aude", frozenset({"auditor"}))

    page = client.get("/decisions").get_data(as_text=True)
    filtered = client.get("/decisions", query_string={"delivered": "false"}).get_data(as_text=True)
    detail = client.get(f"/decisions/{late['late']}").get_data(as_text=True)
    on_time = client.get(f"/decisions/{late['on_time']}").get_data(as_text=True)

    assert page.count('class="badge undelivered"') == 1
    assert late["late"] in filtered and late["on_time"] not in filtered
    assert '<option value="false" selected>not delivered</option>' in filtered
    assert "nobody received this allow" in detail
    assert "<tr><th>delivered</th><td>False</td></tr>" in detail
    assert "undelivered" not in on_time


def test_an_auditor_filters_the_explorer_for_undelivered_decisions(page: Page, live_server, late, session):
    create_user(session, actor="test:factory", username="audrey-ui", password=PASSWORD,
                roles=frozenset({"auditor"}))
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "audrey-ui")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server.url}/decisions")
    expect(page.locator("tbody tr")).to_have_count(2)

    page.select_option("select[name=delivered]", label="not delivered")
    page.click("form.filters button[type=submit]")

    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(late["late"])
    expect(rows.first.locator(".badge.undelivered")).to_have_text("not delivered")
