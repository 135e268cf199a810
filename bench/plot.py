"""Small SVG line charts of the rows that carry a curve (bench/run --plot DIR); no plotting library.

A row's ``curve`` is ``{"x_label", "y_label", "x": [...], <series name>: [...], ...}``: latency
percentiles of the agent and its baseline, or unlock time and memory against store size. The x axis
is logarithmic when the x values span more than a factor of 20 (store sizes).
"""

from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 36, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _ticks(high: float, count: int = 5) -> list[float]:
    step = 10 ** math.floor(math.log10(high / count)) if high > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if high / (step * factor) <= count:
            step *= factor
            break
    return [step * i for i in range(int(high / step) + 2)]


def svg(title: str, curve: dict[str, Any]) -> str:
    """One chart: every series of the curve against its x values."""
    xs = [float(x) for x in curve["x"]]
    series = {k: [float(v) for v in vs] for k, vs in curve.items() if k not in ("x", "x_label", "y_label")}
    logx = min(xs) > 0 and max(xs) / min(xs) > 20
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    yticks = _ticks(max(max(v) for v in series.values()) or 1.0)
    y1 = yticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(v: float) -> float:
        return LEFT + (fx(v) - x0) / ((x1 - x0) or 1) * plot_w

    def py(v: float) -> float:
        return TOP + plot_h - v / y1 * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif"'
        ' font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="13">{escape(title)}</text>',
    ]
    for t in yticks:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{x:g}</text>')
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(str(curve.get('x_label', '')))}{' (log)' if logx else ''}</text>"
    )
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" text-anchor="middle">'
        f"{escape(str(curve.get('y_label', '')))}</text>"
    )
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pairs = [(px(x), py(v)) for x, v in zip(xs, values, strict=True)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in pairs)
        ly = TOP + 10 + 18 * i
        out.append(f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 32}" y1="{ly}" y2="{ly}" stroke="{colour}"/>')
        out.append(f'<text x="{WIDTH - RIGHT + 38}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def plot_rows(rows: list[dict[str, Any]], directory: Path) -> list[Path]:
    """An SVG per row with a curve, named after its bench and metric; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        if not row.get("curve"):
            continue
        name = re.sub(r"[^a-z0-9]+", "-", f"{row['bench']} {row['metric']}".lower()).strip("-")
        path = directory / f"{name}.svg"
        path.write_text(svg(f"{row['bench']}: {row['metric']}", row["curve"]), encoding="utf-8")
        written.append(path)
    return written
