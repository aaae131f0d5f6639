"""Traffic counters per topic: totals and per-second rates over a sliding 10-second window."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .values import Rates

WINDOW = 10  # seconds


class RateCounter:
    """Totals plus one bucket per second for the last WINDOW seconds."""

    __slots__ = ("buckets", "seconds", "total")

    def __init__(self) -> None:
        self.total = 0
        self.buckets = [0] * WINDOW
        self.seconds = [0] * WINDOW

    def add(self, amount: int, now: float | None = None) -> None:
        second = int(time.time() if now is None else now)
        slot = second % WINDOW
        if self.seconds[slot] != second:
            self.seconds[slot] = second
            self.buckets[slot] = 0
        self.buckets[slot] += amount
        self.total += amount

    def rate(self, now: float | None = None) -> float:
        """Average per second over the last WINDOW complete-or-current seconds."""
        second = int(time.time() if now is None else now)
        recent = sum(b for b, s in zip(self.buckets, self.seconds, strict=True) if second - s < WINDOW)
        return recent / WINDOW


@dataclass
class TopicMetrics:
    messages_in: RateCounter = field(default_factory=RateCounter)
    bytes_in: RateCounter = field(default_factory=RateCounter)
    bytes_out: RateCounter = field(default_factory=RateCounter)

    def rates(self, now: float | None = None) -> Rates:
        return Rates(
            round(self.messages_in.rate(now), 2),
            round(self.bytes_in.rate(now), 2),
            round(self.bytes_out.rate(now), 2),
            self.messages_in.total,
            self.bytes_in.total,
            self.bytes_out.total,
        )
