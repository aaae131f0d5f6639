"""Response-time percentiles from a log-scale histogram: O(1) to add, bounded, within ~4 %.

Each step of the Metrics view keeps a sparse map bucket → count instead of every sample, so a
busy minute costs no more memory than a quiet one. A percentile is reported as the upper edge of
the bucket it falls in (never above the exact maximum, which is kept too).
"""

from __future__ import annotations

import math

RATIO = 1.08  # each bucket is 8 % wider than the one before: percentiles within ~4 %
_LOG_RATIO = math.log(RATIO)
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def bucket_of(ms: float) -> int:
    """Bucket 0 holds everything under 1 ms; bucket i ≥ 1 holds [RATIO**(i-1), RATIO**i)."""
    if ms < 1:
        return 0
    return int(math.log(ms) / _LOG_RATIO) + 1


def upper_edge(bucket: int) -> float:
    return 1.0 if bucket == 0 else RATIO**bucket


class Histogram:
    __slots__ = ("buckets", "count", "max_ms", "sum_ms")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.sum_ms = 0.0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        b = bucket_of(ms)
        self.buckets[b] = self.buckets.get(b, 0) + 1
        self.count += 1
        self.sum_ms += ms
        if ms > self.max_ms:
            self.max_ms = ms

    def percentile(self, q: float) -> float | None:
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(upper_edge(b), self.max_ms)
        return self.max_ms

    def summary(self) -> dict[str, float | None]:
        """p50 / p95 / p99 / max in whole milliseconds (None for a step without requests)."""
        out: dict[str, float | None] = {}
        for name, q in PERCENTILES:
            value = self.percentile(q)
            out[name] = None if value is None else round(value)
        out["max"] = round(self.max_ms) if self.count else None
        return out
