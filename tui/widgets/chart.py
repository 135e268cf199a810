"""A trend chart drawn with text: braille dots (2×4 per cell), a y axis, dashed limit lines labelled with
their values on the axis (140, 90), and the dates under the plot.

``plot`` is a pure function (series in, lines of Text out) so it is tested without a screen; the
widget just sizes it to itself. No plotting dependency: a village PC's terminal and a few hundred
points need nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text
from textual.widget import Widget

_BRAILLE = 0x2800
# Dot bits of a braille cell by (column, row), rows top to bottom.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
AXIS = 7  # cells for the y-axis labels and the axis line


@dataclass(frozen=True, slots=True)
class Series:
    """One line of the chart: its name (already translated), a colour, and (time, value) points."""

    name: str
    style: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class Limit:
    """A horizontal limit line (e.g. SBP 140)."""

    value: float
    style: str = "red"


@dataclass
class _Canvas:
    width: int
    height: int
    cells: list[list[int]] = field(default_factory=list)
    styles: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cells = [[0] * self.width for _ in range(self.height)]
        self.styles = [[""] * self.width for _ in range(self.height)]

    def dot(self, x: int, y: int, style: str) -> None:
        """Set a dot; x in 0..2w-1, y in 0..4h-1 from the top."""
        if 0 <= x < self.width * 2 and 0 <= y < self.height * 4:
            cx, cy = x // 2, y // 4
            self.cells[cy][cx] |= _DOTS[x % 2][y % 4]
            self.styles[cy][cx] = style

    def line(self, x0: int, y0: int, x1: int, y1: int, style: str) -> None:
        """Dots from one point to the next (Bresenham)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, style)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += sx
            if doubled <= dx:
                error += dx
                y0 += sy


def _range(series: Sequence[Series], limits: Sequence[Limit]) -> tuple[float, float]:
    values = [v for s in series for _, v in s.points] + [limit.value for limit in limits]
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    margin = (high - low) * 0.08
    return low - margin, high + margin


def _label(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 and value != int(value) else f"{value:.0f}"


def plot(series: Sequence[Series], width: int, height: int, limits: Sequence[Limit] = ()) -> list[Text]:
    """The chart as ``height`` lines of ``width`` cells: a y axis on the left, the plot, the dates under it."""
    series = [s for s in series if s.points]
    if width <= AXIS + 2 or height < 3 or not series:
        return []
    area = _Canvas(width - AXIS, height - 1)
    low, high = _range(series, limits)
    times = [t for s in series for t, _ in s.points]
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 1.0)
    max_x, max_y = area.width * 2 - 1, area.height * 4 - 1

    def xy(moment: datetime, value: float) -> tuple[int, int]:
        x = round((moment - start).total_seconds() / span * max_x) if end > start else max_x // 2
        return x, round((high - value) / (high - low) * max_y)

    marked: dict[int, Limit] = {}
    for limit in limits:
        _, y = xy(start, limit.value)
        marked.setdefault(y // 4, limit)
        for x in range(0, max_x + 1, 3):
            area.dot(x, y, limit.style + " dim")
    for s in series:
        points = sorted(s.points)
        previous = xy(*points[0])
        area.dot(*previous, s.style)
        for point in points[1:]:
            current = xy(*point)
            area.line(*previous, *current, s.style)
            previous = current
    return [*_with_axis(area, low, high, marked), _dates(start, end, area.width)]


def _with_axis(area: _Canvas, low: float, high: float, marked: dict[int, Limit]) -> list[Text]:
    """The rows with the axis: a limit's value on its own row, the range's ends where no limit is near."""
    lines = []
    for row in range(area.height):
        near_limit = any(abs(row - r) <= 1 for r in marked)
        if row in marked:
            line = Text(_label(marked[row].value).rjust(AXIS - 2)[-(AXIS - 2) :] + " ┤", style=marked[row].style)
        elif row in (0, area.height - 1) and not near_limit:
            value = high - (high - low) * (row * 4 + 1.5) / (area.height * 4)
            line = Text(_label(value).rjust(AXIS - 2)[-(AXIS - 2) :] + " ┤", style="dim")
        else:
            line = Text(" " * (AXIS - 2) + " │", style="dim")
        for col in range(area.width):
            bits = area.cells[row][col]
            line.append(chr(_BRAILLE + bits) if bits else " ", style=area.styles[row][col] or None)
        lines.append(line)
    return lines


def _dates(start: datetime, end: datetime, width: int) -> Text:
    """The first and last day under the plot's ends (and the middle one when there is room)."""
    first, last = start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")
    cells = [" "] * width
    if first == last:
        places = [((width - len(first)) // 2, first)]
    else:
        places = [(0, first), (width - len(last), last)]
        middle = (start + (end - start) / 2).strftime("%Y-%m-%d")
        if width >= 3 * len(middle) + 6 and middle not in (first, last):
            places.append(((width - len(middle)) // 2, middle))
    for at, text in places:
        cells[max(at, 0) : max(at, 0) + len(text)] = list(text)
    return Text(" " * AXIS + "".join(cells)[:width], style="dim")


class TrendChart(Widget):
    """A trend chart that fills its size; set ``series`` and ``limits`` to change it."""

    DEFAULT_CSS = "TrendChart { height: 10; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.limits: list[Limit] = []
        self.empty_text = ""

    def show(self, series: list[Series], limits: list[Limit], empty_text: str) -> None:
        """Draw these series."""
        self.series, self.limits, self.empty_text = series, limits, empty_text
        self.refresh()

    def render(self) -> Text:
        lines = plot(self.series, self.size.width, max(self.size.height - 1, 2), self.limits)
        if not lines:
            return Text(self.empty_text, style="dim")
        legend = Text(" " * AXIS)
        for s in self.series:
            if s.points:
                legend.append("⣿ ", style=s.style)
                legend.append(s.name + "  ")
        return Text("\n").join([legend, *lines])
