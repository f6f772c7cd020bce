"""How the UI shows values: one format for a moment, always with its zone. Layer: web."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def when(value: datetime | str | None, empty: str = "—") -> str:
    """`2026-12-02 12:25:56 UTC` for a datetime or an ISO 8601 text (naive means UTC, as govern
    stores every time); `empty` for None."""
    if value is None or value == "":
        return empty
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(FORMAT)
