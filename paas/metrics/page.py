"""The Metrics web page: Heroku's Metrics tab for one app, server-rendered, charts as inline SVG.

No script and no CDN (the machine may have no internet; the dataclips CSP allows neither):
each chart is an `<svg>` drawn with presentation attributes only, events (deploys, restarts,
crashes, scaling, config changes) are vertical lines on every chart with a `<title>` tooltip
and are listed under the charts. The page reloads itself once per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from paas.metrics.timeline import Mark, Series

W, H = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
COLORS = ("#7a5af8", "#0ea5e9", "#f97316", "#16a34a", "#e11d48", "#a16207", "#0f766e", "#be185d")
STATUS_COLORS = {"2xx": "#16a34a", "3xx": "#0ea5e9", "4xx": "#f97316", "5xx": "#e11d48"}
MARK_COLORS = {
    "deploy": "#7a5af8",
    "config": "#0f766e",
    "scale": "#0ea5e9",
    "restart": "#a16207",
    "crash": "#e11d48",
}
MAX_DYNO_LINES = 8


@dataclass
class Line:
    name: str
    color: str
    values: list[float | None]
    dashed: bool = False


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def _top(lines: list[Line], stacked: list[int] | None) -> float:
    values = [v for line in lines for v in line.values if v is not None]
    if stacked:
        values += stacked
    top = max(values, default=0.0)
    return top * 1.1 if top > 0 else 1.0


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


class Plot:
    """Coordinates of one chart: steps along x, 0..top along y."""

    def __init__(self, times: list[int], top: float) -> None:
        self.times = times
        self.top = top
        self.span = max(1, times[-1] - times[0]) if len(times) > 1 else 1

    def x(self, ts: float) -> float:
        if len(self.times) < 2:
            return LEFT + (W - LEFT - RIGHT) / 2
        return LEFT + (ts - self.times[0]) / self.span * (W - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return TOP + (1 - value / self.top) * (H - TOP - BOTTOM)

    def axes(self) -> list[str]:
        out = []
        for i in range(5):
            value = self.top * i / 4
            y = self.y(value)
            out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            out.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">{_fmt(value)}</text>'
            )
        ticks = (
            (self.times[0], "start"),
            (self.times[len(self.times) // 2], "middle"),
            (self.times[-1], "end"),
        )
        for ts, anchor in ticks:
            out.append(
                f'<text x="{self.x(ts):.1f}" y="{H - 8}" text-anchor="{anchor}" font-size="11" fill="#555">{_hhmm(ts)}</text>'
            )
        return out

    def polyline(self, line: Line) -> list[str]:
        """One polyline per run of known values (a gap where nothing was measured)."""
        runs: list[list[str]] = [[]]
        for ts, value in zip(self.times, line.values, strict=True):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{self.x(ts):.1f},{self.y(value):.1f}")
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        out = []
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{line.color}"/>')
            elif run:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{line.color}" stroke-width="1.8"{dash}/>'
                )
        return out

    def marks(self, marks: list[Mark]) -> list[str]:
        out = []
        for m in marks:
            x = self.x(m.ts)
            color = MARK_COLORS.get(m.kind, "#555")
            out.append(
                f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{color}" '
                f'stroke-dasharray="2 3"><title>{escape(_hhmm(m.ts) + " " + m.kind + ": " + m.text)}</title></line>'
            )
        return out

    def bars(self, stacks: list[tuple[str, str, list[int]]]) -> list[str]:
        width = max(1.0, (W - LEFT - RIGHT) / max(1, len(self.times)) - 1)
        out = []
        for i, ts in enumerate(self.times):
            base = 0.0
            for _name, color, values in stacks:
                if values[i] <= 0:
                    continue
                y0, y1 = self.y(base), self.y(base + values[i])
                x = self.x(ts) - width / 2
                out.append(
                    f'<rect x="{x:.1f}" y="{y1:.1f}" width="{width:.1f}" height="{y0 - y1:.1f}" fill="{color}"/>'
                )
                base += values[i]
        return out


def chart(
    chart_id: str,
    times: list[int],
    lines: list[Line],
    marks: list[Mark],
    stacks: list[tuple[str, str, list[int]]] | None = None,
) -> str:
    totals = [sum(v[i] for _, _, v in stacks) for i in range(len(times))] if stacks else None
    plot = Plot(times, _top(lines, totals))
    parts = plot.axes() + plot.marks(marks)  # events beneath the data: a mark never hides a bar
    if stacks:
        parts += plot.bars(stacks)
    for line in lines:
        parts += plot.polyline(line)
    names = [(n, c) for n, c, _ in stacks or []] + [(ln.name, ln.color) for ln in lines]
    legend = "".join(
        f'<span class="legend"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{c}"/></svg> {escape(n)}</span> '
        for n, c in names
    )
    svg = (
        f'<svg id="{chart_id}" viewBox="0 0 {W} {H}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
    return svg + f'<div class="legends">{legend}</div>'


def _card(title: str, body: str) -> str:
    return f'<section class="card"><h2>{escape(title)}</h2>{body}</section>'


def _events(marks: list[Mark]) -> str:
    if not marks:
        return "<p>No deploys, restarts, scaling or config changes in this hour.</p>"
    rows = "".join(
        f"<tr><td>{_hhmm(m.ts)}</td><td>{escape(m.kind)}</td><td>{escape(m.text)}</td></tr>"
        for m in reversed(marks)
    )
    return f'<table id="events"><thead><tr><th>Time (UTC)</th><th>Event</th><th>What</th></tr></thead><tbody>{rows}</tbody></table>'


def charts(s: Series) -> list[str]:
    t, marks = s.times, s.events
    latency = [Line(name, COLORS[i], s.latency[name]) for i, name in enumerate(("p50", "p95", "p99", "max"))]
    stacks = [(c, STATUS_COLORS.get(c, "#888"), v) for c, v in s.throughput.items()]
    errors = [(c, COLORS[i % len(COLORS)], v) for i, (c, v) in enumerate(s.errors.items())]
    dynos = list(s.memory)[:MAX_DYNO_LINES]
    memory = [Line(d, COLORS[i % len(COLORS)], s.memory[d]) for i, d in enumerate(dynos)]
    quotas = sorted({q for d, q in s.memory_quota.items() if d in dynos})
    memory += [Line(f"quota {q:.0f} MB", "#b42318", [q] * len(t), dashed=True) for q in quotas]
    load = [Line(d, COLORS[i % len(COLORS)], s.load.get(d, [None] * len(t))) for i, d in enumerate(dynos)]
    per = f"per {s.resolution} s" if s.resolution != 60 else "per minute"
    return [
        _card("Response time (ms): p50, p95, p99, max", chart("latency", t, latency, marks)),
        _card(f"Throughput: requests {per} by status", chart("throughput", t, [], marks, stacks)),
        _card(
            f"Router errors {per} by code",
            chart("errors", t, [], marks, errors) if errors else "<p>No errors.</p>",
        ),
        _card("Memory (MB) per dyno, against quota", chart("memory", t, memory, marks)),
        _card("Dyno load (CPU busy, cores)", chart("load", t, load, marks)),
    ]


WINDOWS = ((3600, "1 hour"), (1800, "30 minutes"), (900, "15 minutes"), (300, "5 minutes"))
STATIC_DIR = Path(__file__).parent / "static"  # served at /dataclips/metrics/static/<name>
STATIC_TYPES = {"metrics.css": "text/css"}


def _windows(app: str, current: int) -> str:
    links = [
        f'<a href="/dataclips/metrics/{quote(app)}?window={seconds}"'
        + (' class="current" aria-current="page"' if seconds == current else "")
        + f">{label}</a>"
        for seconds, label in WINDOWS
    ]
    return f'<p class="windows">{"".join(links)}</p>'


def metrics_page(s: Series) -> str:
    body = "".join(charts(s))
    events = _card("Events", _events(s.events))
    span = len(s.times) * s.resolution
    window = span // 60
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta http-equiv="refresh" content="{max(10, s.resolution)}">
<title>{escape(s.app)} · Metrics</title>
<link rel="stylesheet" href="/dataclips/static/dataclips.css">
<link rel="stylesheet" href="/dataclips/metrics/static/metrics.css">
</head><body>
<header class="top"><a href="/dataclips" class="brand">Dataclips</a></header>
<main><h1>Metrics · {escape(s.app)}</h1>
<p>Last {window} minutes, one step {per_step(s.resolution)}. Times in UTC.</p>
{_windows(s.app, span)}
<div class="metrics">{body}</div>{events}</main>
</body></html>"""


def per_step(resolution: int) -> str:
    return "per minute" if resolution == 60 else f"every {resolution} s"


def not_found_page(app: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · Metrics</title>'
        '<link rel="stylesheet" href="/dataclips/static/dataclips.css"></head><body>'
        f'<main><section class="card"><h1>Couldn\'t find that app.</h1><p>{escape(app)}</p></section></main>'
        "</body></html>"
    )
