"""Per-tenant byte-rate quotas (Kafka's `producer_byte_rate` / `consumer_byte_rate`).

A token bucket holding one second of the plan's rate: every produced or fetched byte takes a
token; when the bucket is in debt the tenant owes `debt / rate` seconds. The broker reports
that as `throttle_time_ms` and stops reading from the connection for that long (KIP-219:
clients that honour the field wait on their side too, those that don't are held anyway).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class ByteRateQuota:
    rate: float  # bytes per second
    burst_seconds: float = 1.0
    tokens: float = field(init=False)
    last: float = field(default_factory=time.monotonic)
    throttled: int = 0  # responses that carried a throttle
    throttle_ms_total: int = 0

    def __post_init__(self) -> None:
        self.tokens = self.rate * self.burst_seconds

    def _refill(self, now: float) -> None:
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.rate * self.burst_seconds, self.tokens + elapsed * self.rate)
            self.last = now

    def throttle_ms(self, now: float | None = None) -> int:
        """Current debt in milliseconds (0 when within quota)."""
        self._refill(time.monotonic() if now is None else now)
        if self.tokens >= 0:
            return 0
        return math.ceil(-self.tokens / self.rate * 1000)

    def record(self, nbytes: int, now: float | None = None) -> int:
        """Charge `nbytes`; returns the throttle time in ms this caused (0 if none)."""
        now = time.monotonic() if now is None else now
        self._refill(now)
        self.tokens -= nbytes
        delay = self.throttle_ms(now)
        if delay:
            self.throttled += 1
            self.throttle_ms_total += delay
        return delay


class TenantQuotas:
    def __init__(self, produce_rate: float, consume_rate: float):
        self.produce = ByteRateQuota(produce_rate)
        self.consume = ByteRateQuota(consume_rate)

    def to_json(self) -> dict[str, float | int]:
        return {
            "produce_bytes_per_sec": self.produce.rate,
            "consume_bytes_per_sec": self.consume.rate,
            "produce_throttled_responses": self.produce.throttled,
            "consume_throttled_responses": self.consume.throttled,
            "produce_throttle_ms_total": self.produce.throttle_ms_total,
            "consume_throttle_ms_total": self.consume.throttle_ms_total,
        }
