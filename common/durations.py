"""Durations as Heroku's CLIs write them: `10d`, `36h`, `90m`, `3600s`, `1500ms`."""

from __future__ import annotations

import re

from common.errors import invalid

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*")
_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


def parse_duration_ms(text: str | int) -> int:
    """`10d`, `36h`, `90m`, `3600s`, `1500ms`, or a bare number of milliseconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.fullmatch(text)
    if not match:
        raise invalid(f"Could not parse retention time {text!r}; use a value like 10d, 36h or 90m.")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit or "ms"])


def format_duration_ms(value: int) -> str:
    for unit, size in (("w", 7 * DAY_MS), ("d", DAY_MS), ("h", HOUR_MS), ("m", 60_000), ("s", 1000)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}ms"
