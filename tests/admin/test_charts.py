"""The dashboard's line chart as geometry: every tier keeps a line and a style of its own."""

from __future__ import annotations

from govern.admin.charts import line_chart

HOURS = ["10:00", "11:00", "12:00"]


def test_a_tier_without_decisions_still_gets_its_flat_line():
    chart = line_chart({"verified": [0, 4, 2]}, HOURS, ["free", "verified", "trusted"])

    assert [line.label for line in chart.lines] == ["free", "verified", "trusted"]
    assert chart.lines[0].points == chart.lines[2].points == "48.0,212.0 378.0,212.0 708.0,212.0"
    assert chart.lines[1].points == "48.0,212.0 378.0,12.0 708.0,112.0"


def test_labels_outside_the_order_come_after_it_and_every_line_has_a_style():
    tiers = [f"tier-{n}" for n in range(9)]
    chart = line_chart({"none": [1, 1, 1]}, HOURS, tiers)

    assert [line.label for line in chart.lines] == [*tiers, "none"]
    assert [line.css for line in chart.lines] == [
        "series-0", "series-1", "series-2", "series-3", "series-4", "series-5", "series-6", "series-7",
        "series-0", "series-1"]
