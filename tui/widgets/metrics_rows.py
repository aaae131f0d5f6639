"""The Metrics view as text rows: a label, a sparkline of the steps, the latest figure.

Built from `GET /apps/{app}/metrics` (one column per figure, one value per step). Every row of
one width maps steps to columns the same way (`fit`: a step spread over several columns, or a
column the peak of several steps), so the axis and the events row line up with the charts: D deploy, C config, S scale,
R restart, X crash, at the column of the step they happened in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from tui.widgets.spark import spark

LABEL = 10
VALUE = 17
STATUS_STYLES = {"2xx": "green", "3xx": "cyan", "4xx": "yellow", "5xx": "red"}
LATENCY_STYLES = {"p50": "green", "p95": "yellow", "p99": "dark_orange", "max": "red"}
MARK_LETTERS = {"deploy": "D", "config": "C", "scale": "S", "restart": "R", "crash": "X"}
MARK_STYLES = {
    "deploy": "bold magenta",
    "config": "bold cyan",
    "scale": "bold blue",
    "restart": "yellow",
    "crash": "bold red",
}
MAX_EVENTS_LISTED = 4


def spark_width(width: int) -> int:
    return max(10, width - LABEL - VALUE - 2)


def _span(j: int, steps: int, cols: int) -> tuple[int, int]:
    """The steps column `j` of `cols` shows: at least one, the peak when several."""
    lo = j * steps // cols
    return lo, max(lo + 1, (j + 1) * steps // cols)


def fit(values: Sequence[float], cols: int) -> list[float]:
    """Steps to exactly `cols` columns: a step spans several columns when there is room, a column
    is the peak of several steps when there is not. Every row of one width maps the same way,
    so rows, axis and marks line up."""
    n = len(values)
    if n == 0:
        return []
    return [max(values[lo:hi]) for lo, hi in (_span(j, n, cols) for j in range(cols))]


def column_of(step: int, steps: int, cols: int) -> int:
    """The first column that shows `step` (the columns' spans, searched from just before it)."""
    j = max(0, step * cols // steps - 1)
    while j < cols - 1:
        lo, hi = _span(j, steps, cols)
        if lo <= step < hi:
            return j
        j += 1
    return cols - 1


def _numbers(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None else float(v) for v in values]


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def _row(
    label: str,
    values: Sequence[float | None],
    width: int,
    style: str,
    value: Text | str,
    peak: float | None = None,
) -> Text:
    text = Text(label[:LABEL].ljust(LABEL), style="bold")
    text.append(" ")
    cols = fit(_numbers(values), spark_width(width))
    text.append_text(spark(cols, len(cols), style=style, peak=peak))
    text.append(" ")
    shown = value if isinstance(value, Text) else Text(value)
    shown.truncate(VALUE)
    text.append_text(shown)
    return text


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def marks_row(data: dict[str, Any], width: int) -> Text:
    """The events under the charts, at their step's column."""
    times: list[int] = data.get("times") or []
    text = Text("events".ljust(LABEL) + " ", style="bold")
    if not times:
        return text
    cols = spark_width(width)
    used = len(fit([0.0] * len(times), cols))
    cells = [Text("·", style="dim") for _ in range(used)]
    resolution = int(data.get("resolution") or 60)
    for mark in data.get("events") or []:
        step = (int(mark["ts"]) - times[0]) // resolution
        if 0 <= step < len(times):
            kind = str(mark.get("kind"))
            letter = Text(MARK_LETTERS.get(kind, "?"), style=MARK_STYLES.get(kind, "bold"))
            cells[column_of(step, len(times), cols)] = letter
    for cell in cells:
        text.append_text(cell)
    return text


def axis_row(data: dict[str, Any], width: int) -> Text:
    times: list[int] = data.get("times") or []
    if not times:
        return Text("")
    used = len(fit([0.0] * len(times), spark_width(width)))
    start = datetime.fromtimestamp(times[0], UTC).strftime("%H:%M")
    end = datetime.fromtimestamp(times[-1], UTC).strftime("%H:%M UTC")
    return Text(" " * (LABEL + 1) + start + end.rjust(max(1, used - len(start))), style="dim")


def latency_rows(data: dict[str, Any], width: int) -> list[Text]:
    """On one log scale: a 30 s timeout beside 20 ms requests still leaves every line a shape."""
    latency: dict[str, list[float | None]] = data.get("latency_ms") or {}
    peak = max((v for v in latency.get("max", []) if v is not None), default=0.0)
    top = math.log1p(peak) if peak > 0 else None
    rows = [_heading("Response time (log scale)")]
    for name in ("p50", "p95", "p99", "max"):
        values = latency.get(name, [])
        scaled = [None if v is None else math.log1p(v) for v in values]
        rows.append(_row(name, scaled, width, LATENCY_STYLES[name], _ms(_last(values)), top))
    return rows


def throughput_rows(data: dict[str, Any], width: int) -> list[Text]:
    per = "min" if int(data.get("resolution") or 60) == 60 else f"{data.get('resolution')}s"
    rows = [_heading(f"Throughput (requests per {per}; total)")]
    for cls, values in (data.get("throughput") or {}).items():
        rows.append(_row(cls, values, width, STATUS_STYLES.get(cls, "white"), f"{sum(values):,}"))
    return rows


def error_rows(data: dict[str, Any], width: int) -> list[Text]:
    errors: dict[str, list[int]] = data.get("errors") or {}
    if not errors:
        return [_heading("Router errors"), Text("none in this window", style="dim")]
    ranked = sorted(errors.items(), key=lambda kv: -sum(kv[1]))
    rows = [_heading("Router errors (total)")]
    rows += [_row(code, values, width, "red", f"{sum(values):,}") for code, values in ranked]
    return rows


def memory_rows(data: dict[str, Any], width: int) -> list[Text]:
    memory: dict[str, list[float | None]] = data.get("memory_mb") or {}
    quotas: dict[str, float] = data.get("memory_quota_mb") or {}
    if not memory:
        return [_heading("Memory"), Text("no dyno running in this window", style="dim")]
    rows = [_heading("Memory (MB, against quota)")]
    for dyno, values in memory.items():
        quota = quotas.get(dyno)
        last = _last(values)
        over = last is not None and quota is not None and last > quota
        shown = "-" if last is None else f"{last:,.0f}"
        value = Text(f"{shown}/{quota or 0:,.0f} MB", style="bold red" if over else "")
        # drawn on the quota's scale (Heroku's chart), unless a dyno went past it
        top = max([quota or 0.0, *_numbers(values)]) or None
        rows.append(_row(dyno, values, width, "red" if over else "blue", value, top))
    return rows


def load_rows(data: dict[str, Any], width: int) -> list[Text]:
    load: dict[str, list[float | None]] = data.get("load") or {}
    if not load:
        return []
    rows = [_heading("Dyno load (busy cores)")]
    for dyno, values in load.items():
        last = _last(values)
        rows.append(_row(dyno, values, width, "magenta", "-" if last is None else f"{last:.2f}"))
    return rows


def event_lines(data: dict[str, Any]) -> list[Text]:
    events = list(data.get("events") or [])[-MAX_EVENTS_LISTED:]
    out = []
    for mark in reversed(events):
        kind = str(mark.get("kind"))
        at = datetime.fromtimestamp(float(mark["ts"]), UTC).strftime("%H:%M:%S")
        out.append(
            Text.assemble(
                (f"{MARK_LETTERS.get(kind, '?')} ", MARK_STYLES.get(kind, "bold")),
                (f"{at} ", "dim"),
                (f"{kind:<8}", "bold"),
                str(mark.get("text", "")),
            )
        )
    return out


def render(data: dict[str, Any], width: int) -> Text:
    """All rows, charts first (the events row under the axis), the latest events last."""
    rows: list[Text] = [axis_row(data, width), marks_row(data, width)]
    for section in (latency_rows, throughput_rows, error_rows, memory_rows, load_rows):
        rows += section(data, width)
    rows += event_lines(data)
    return Text("\n").join(rows)
