"""Small formatting helpers shared by the screens."""

from __future__ import annotations

from rich.text import Text

STATE_STYLE = {
    "up": "green",
    "starting": "yellow",
    "crashed": "bold red",
    "down": "dim",
    "stopping": "yellow",
    "idle": "dim",
}
MB = 1024 * 1024


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def state_text(state: str) -> Text:
    return Text(state or "?", style=STATE_STYLE.get(state, ""))


def memory_text(used: int | None, quota: int, width: int = 10) -> Text:
    """`███▍░░░░ 180/512 MB` with the R14 line at 100% of quota: red past it."""
    if used is None:
        return Text("-", style="dim")
    pct = used / quota if quota else 0.0
    filled = min(width, round(width * min(pct, 1.0)))
    style = "green" if pct < 0.8 else "yellow" if pct <= 1.0 else "bold red"
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {used / MB:.0f}/{quota / MB:.0f} MB {pct * 100:.0f}%", style=style if pct > 1.0 else "")
    if pct > 1.0:
        text.append(" R14", style="bold white on red")
    return text


def mask(value: str) -> str:
    """Config values are secrets more often than not: show a hint, never the value."""
    if "://" in value:
        scheme = value.split("://", 1)[0]
        return f"{scheme}://" + "•" * 8
    if len(value) <= 4:
        return "•" * len(value)
    return value[:2] + "•" * min(10, len(value) - 2)
