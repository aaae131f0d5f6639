"""Sparklines as text, so they fit in a DataTable cell (one block character per bucket)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"


def spark(values: Sequence[float], width: int = 30, style: str = "green", peak: float | None = None) -> Text:
    """Squeeze values (oldest → newest) into `width` buckets (max of each) and draw them."""
    if not values:
        return Text(" " * width)
    buckets: list[float] = []
    per = max(1, -(-len(values) // width))  # ceil
    for i in range(0, len(values), per):
        buckets.append(max(values[i : i + per]))
    buckets = buckets[-width:]
    top = peak if peak is not None else max(buckets)
    if top <= 0:
        chars = " " * len(buckets)
    else:
        chars = "".join(BLOCKS[min(8, max(1 if v > 0 else 0, round(8 * v / top)))] for v in buckets)
    return Text(chars.rjust(width), style=style)
