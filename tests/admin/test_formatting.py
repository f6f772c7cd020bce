"""One way to show a moment in the UI, always with its zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from govern.admin.formatting import when


def test_a_moment_is_shown_in_utc_with_its_zone_whatever_it_came_as():
    expected = "2026-12-02 12:25:56 UTC"
    assert when(datetime(2026, 12, 2, 12, 25, 56, 812_000)) == expected  # naive: stored as UTC
    assert when(datetime(2026, 12, 2, 12, 25, 56, tzinfo=UTC)) == expected
    assert when(datetime(2026, 12, 2, 13, 25, 56, tzinfo=timezone(timedelta(hours=1)))) == expected
    assert when("2026-12-02T12:25:56.812+00:00") == expected


def test_no_moment_is_a_dash_or_what_the_page_says():
    assert when(None) == "—"
    assert when("") == "—"
    assert when(None, "never") == "never"
