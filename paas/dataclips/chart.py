"""Charts for results, as inline SVG (no scripts, no CDN: the machine may have no internet).

Like Heroku's toggle: a result with at least two columns gets a line chart when it has a
date/time column and a numeric one (timeseries), or a bar chart when it has a text column and
a numeric one (categories). Every numeric column is a series, up to MAX_SERIES.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from paas.dataclips.export import text_value
from paas.dataclips.results import ClipResult, Column

WIDTH, HEIGHT = 760, 320
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 28, 64
MAX_SERIES = 5
MAX_BARS = 40
MAX_POINTS = 1_500
COLORS = ("#7a5af8", "#0ea5e9", "#f97316", "#16a34a", "#e11d48")


@dataclass
class Chart:
    kind: str  # line | bar
    x_name: str
    series: list[tuple[str, list[tuple[Any, float]]]]  # (name, [(x, y)])

    @property
    def points(self) -> int:
        return sum(len(points) for _, points in self.series)


@dataclass(frozen=True)
class ChartSettings:
    """The chart picked in the page and saved with the clip: a kind, the x column, the y columns.
    `auto` (and columns left empty) keeps the guess above."""

    kind: str = "auto"  # auto | line | bar | none
    x: str | None = None
    y: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x, "y": list(self.y)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChartSettings:
        kind = data.get("kind") or "auto"
        if kind not in CHART_KINDS:
            raise ValueError(f"chart kind must be one of {', '.join(CHART_KINDS)}")
        x = data.get("x") or None
        y = tuple(str(v) for v in data.get("y") or ())
        return cls(kind, None if x is None else str(x), y)


CHART_KINDS = ("auto", "line", "bar", "none")
AUTO = ChartSettings()


def _guess(columns: list[Column]) -> tuple[str, int] | None:
    numbers = [i for i, c in enumerate(columns) if c.kind == "number"]
    times = [i for i, c in enumerate(columns) if c.kind == "time"]
    texts = [i for i, c in enumerate(columns) if c.kind == "text"]
    if times and [i for i in numbers if i != times[0]]:
        return "line", times[0]
    if texts and numbers:
        return "bar", texts[0]
    return None


def _axes(columns: list[Column], settings: ChartSettings) -> tuple[str, int, list[int]] | None:
    names = [c.name for c in columns]
    guess = _guess(columns)
    kind = settings.kind if settings.kind != "auto" else (guess[0] if guess else None)
    if kind is None:
        return None
    x = names.index(settings.x) if settings.x in names else (guess[1] if guess else 0)
    if kind == "line" and columns[x].kind not in ("time", "number"):
        return None  # a line needs an ordered x axis
    numbers = [i for i, c in enumerate(columns) if c.kind == "number" and i != x]
    picked = [names.index(n) for n in settings.y if n in names and names.index(n) in numbers]
    return kind, x, (picked or numbers)[:MAX_SERIES]


def chart_for(result: ClipResult, settings: ChartSettings = AUTO) -> Chart | None:
    columns = result.columns
    if settings.kind == "none" or len(columns) < 2 or not result.values:
        return None
    axes = _axes(columns, settings)
    if axes is None:
        return None
    kind, x, ys = axes
    series = []
    for i in ys:
        points = []
        for row in result.values:
            xv, yv = row[x], _number(row[i])
            if xv is None or yv is None:
                continue
            points.append((_epoch(xv) if kind == "line" else text_value(xv), yv))
        if kind == "line":
            points.sort(key=lambda p: p[0])
            points = _thin(points, MAX_POINTS)
        else:
            points = points[:MAX_BARS]
        series.append((columns[i].name, points))
    if not any(points for _, points in series):
        return None
    return Chart(kind, columns[x].name, series)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return float(value)


def _thin(points: list[tuple[Any, float]], limit: int) -> list[tuple[Any, float]]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return [points[int(i * step)] for i in range(limit)]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.floor(low / step) * step
    ticks: list[float] = [round(start, 10)]
    while ticks[-1] < high and len(ticks) < 12:  # the top tick covers the highest value
        ticks.append(round(start + step * len(ticks), 10))
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _time_label(epoch: float, span: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if span < 2 * 86400:
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d")


# the chart's one inline style element: pages allow exactly this text by its hash (CSP)
SVG_STYLE = "text{font:11px system-ui,sans-serif;fill:#555}.grid{stroke:#e5e5e5}.axis{stroke:#999}"


def render_svg(chart: Chart) -> str:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    ys = [y for _, points in chart.series for _, y in points]
    ticks = _nice_ticks(min(0.0, min(ys)), max(0.0, max(ys)))
    y_low, y_high = ticks[0], ticks[-1]

    def y_pos(y: float) -> float:
        return PAD_TOP + plot_h - (y - y_low) / ((y_high - y_low) or 1) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dataclip-chart" data-kind="{chart.kind}" '
        f'data-points="{chart.points}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(chart.kind)} chart">',
        f"<style>{SVG_STYLE}</style>",
    ]
    for t in ticks:
        y = y_pos(t)
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    base = y_pos(max(y_low, min(0.0, y_high)))
    parts.append(
        f'<line class="axis" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{base:.1f}" y2="{base:.1f}"/>'
    )
    if chart.kind == "line":
        parts.extend(_line_series(chart, plot_w, plot_h, y_pos))
    else:
        parts.extend(_bar_series(chart, plot_w, y_pos, base))
    # legend
    for n, (name, _points) in enumerate(chart.series):
        x = PAD_LEFT + n * 140
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{COLORS[n % len(COLORS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="17">{escape(name[:18])}</text>')
    parts.append(
        f'<text x="{PAD_LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(chart.x_name)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _line_series(chart: Chart, plot_w: float, plot_h: float, y_pos: Any) -> list[str]:
    xs = [x for _, points in chart.series for x, _ in points]
    x_low, x_high = min(xs), max(xs)
    span = (x_high - x_low) or 1.0

    def x_pos(x: float) -> float:
        return PAD_LEFT + (x - x_low) / span * plot_w if x_high > x_low else PAD_LEFT + plot_w / 2

    parts = []
    for i in range(5):
        x = x_low + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"  # keep the edge labels inside
        parts.append(
            f'<text x="{x_pos(x):.1f}" y="{PAD_TOP + plot_h + 16}" text-anchor="{anchor}">'
            f"{_time_label(x, span)}</text>"
        )
    for n, (_name, points) in enumerate(chart.series):
        color = COLORS[n % len(COLORS)]
        coords = " ".join(f"{x_pos(x):.1f},{y_pos(y):.1f}" for x, y in points)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'
        )
        if len(points) <= 60:
            parts.extend(
                f'<circle cx="{x_pos(x):.1f}" cy="{y_pos(y):.1f}" r="2.5" fill="{color}"/>' for x, y in points
            )
    return parts


def _bar_series(chart: Chart, plot_w: float, y_pos: Any, base: float) -> list[str]:
    categories: list[str] = []
    for _, points in chart.series:
        for x, _ in points:
            if x not in categories:
                categories.append(x)
    slot = plot_w / max(1, len(categories))
    width = max(1.0, slot * 0.8 / len(chart.series))
    parts = []
    for c, category in enumerate(categories):
        center = PAD_LEFT + slot * (c + 0.5)
        label = escape(category[:16])
        parts.append(
            f'<text x="{center:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="end" '
            f'transform="rotate(-35 {center:.1f} {HEIGHT - PAD_BOTTOM + 14})">{label}</text>'
        )
    for n, (name, points) in enumerate(chart.series):
        color = COLORS[n % len(COLORS)]
        for x, y in points:
            c = categories.index(x)
            left = PAD_LEFT + slot * c + slot * 0.1 + n * width
            top, bottom = sorted((y_pos(y), base))
            parts.append(
                f'<rect class="bar" x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{bottom - top:.1f}" '
                f'fill="{color}"><title>{escape(str(x))} · {escape(name)}: {_fmt(y)}</title></rect>'
            )
    return parts
