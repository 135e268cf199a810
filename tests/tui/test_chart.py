"""The trend chart as text: the limit lines carry their values on the axis, and the dates sit under the plot."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui.widgets.chart import AXIS, Limit, Series, plot

START = datetime(2025, 11, 18, 8, 0)


def _bp(n: int) -> list[Series]:
    days = [START + timedelta(days=30 * i) for i in range(n)]
    return [
        Series("SBP", "red", [(d, 150.0 - 3 * i) for i, d in enumerate(days)]),
        Series("DBP", "cyan", [(d, 92.0 - i) for i, d in enumerate(days)]),
    ]


def test_the_limit_lines_are_labelled_with_their_values_on_the_axis() -> None:
    lines = plot(_bp(7), 60, 9, [Limit(140), Limit(90, "yellow")])
    axis = [line.plain[:AXIS] for line in lines[:-1]]
    assert "  140 ┤" in axis
    assert "   90 ┤" in axis
    assert axis.index("  140 ┤") < axis.index("   90 ┤")


def test_the_first_middle_and_last_dates_are_under_the_plot() -> None:
    lines = plot(_bp(7), 60, 9, [Limit(140), Limit(90)])
    assert len(lines) == 9
    dates = lines[-1].plain
    assert dates.startswith(" " * AXIS + "2025-11-18")
    assert dates.rstrip().endswith("2026-05-17")
    assert "2026-02-16" in dates
    assert len(dates) <= 60


def test_one_day_shows_one_date_and_a_narrow_chart_no_middle_one() -> None:
    one = plot(_bp(1), 40, 6)
    assert one[-1].plain.split() == ["2025-11-18"]
    narrow = plot(_bp(7), 30, 6)
    assert narrow[-1].plain.split() == ["2025-11-18", "2026-05-17"]
