"""A line chart as plain geometry for a server-rendered SVG: no script, no chart library."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
# Styles series-0 … series-7 in govern.css: a colour each, and dashes from the fifth on, so lines
# that lie on each other (say, every quiet tier at zero) stay told apart by the legend.
STYLES = 8


@dataclass(frozen=True)
class Line:
    label: str
    points: str  # "x,y x,y ..." for <polyline points>
    css: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_bottom: int


def line_chart(series: dict[str, list[int]], x_labels: list[str], order: list[str]) -> Chart:
    """A line for every label of `order` (zeros where `series` has none), then for any other label
    of `series`, each as long as `x_labels` and styled by its place: every tier keeps its line."""
    series = {**{label: [0] * len(x_labels) for label in order}, **series}
    top_value = max((max(values) for values in series.values() if values), default=0) or 1
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    steps = max(len(x_labels) - 1, 1)

    def x(index: int) -> float:
        return round(LEFT + span_x * index / steps, 1)

    def y(value: float) -> float:
        return round(TOP + span_y * (1 - value / top_value), 1)

    ranked = sorted(series, key=lambda label: order.index(label) if label in order else len(order))
    lines = [Line(label, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(series[label])),
                  f"series-{place % STYLES}")
             for place, label in enumerate(ranked)]
    y_ticks = [Tick(y(top_value * share), str(round(top_value * share))) for share in (0, 0.5, 1)]
    every = max(1, len(x_labels) // 6)
    x_ticks = [Tick(x(i), label) for i, label in enumerate(x_labels) if i % every == 0]
    return Chart(WIDTH, HEIGHT, lines, y_ticks, x_ticks, LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM)
