"""Dyno load: CPU seconds the dyno's process tree used per second of wall time since the last sample.

Heroku's "dyno load" is the number of tasks wanting a CPU, averaged; a tree that keeps one core
busy reads 1.0, two busy cores 2.0, an idle dyno 0 — the same scale, measured from the real
process (a container dyno's main process as the host sees it). Read off the event loop (psutil
walks /proc); a dyno whose process is gone or hidden has no load figure, not a made-up one.
"""

from __future__ import annotations

import psutil

MAX_TRACKED = 10_000


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` and every descendant (None when it cannot be read)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.Error, OSError):
        return None
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except (psutil.Error, OSError):
            continue  # a child that just ended
        total += times.user + times.system
    return total


class LoadMeter:
    """Keeps the last (pid, cpu seconds, wall time) per dyno; each reading is against it."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[int, float, float]] = {}

    def read(self, key: tuple[str, str], pid: int, cpu: float, now: float) -> float | None:
        last = self._last.get(key)
        if len(self._last) >= MAX_TRACKED and last is None:
            return None
        self._last[key] = (pid, cpu, now)
        if last is None or last[0] != pid or now <= last[2]:
            return None  # a new (or restarted) dyno: no interval to measure yet
        return max(0.0, (cpu - last[1]) / (now - last[2]))

    def keep_only(self, keys: set[tuple[str, str]]) -> None:
        for key in [k for k in self._last if k not in keys]:
            del self._last[key]
