"""What the Metrics view costs per routed request: the daemon's `router.request` publish with and
without the metrics service listening, side by side in interleaved rounds (one process).

    .venv/bin/python -P bench/metrics_listener.py [--events 200000] [--rounds 5]

(-P: this folder's router.py would otherwise shadow the `router` package.)

The router builds each request's event anyway (the platform table listens); the metrics service
adds one synchronous listener (its step's counters and latency histogram, the Prometheus
counters and histogram). Printed: µs per request for each, the difference, medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, cast

from common.config import Settings
from common.events import EventBus
from dynos.manager import DynoManager
from paas.metrics.service import MetricsService
from router.metrics import RequestRecord, bus_publisher

APPS = [f"app{i}" for i in range(20)]
CODES = [None] * 45 + ["H12", "H13", "H10", "H80", "H27"]
STATUSES = [200] * 40 + [404] * 5 + [500, 503, 503, 503, 499]


class NoDynos:
    def dynos(self, app: str | None = None) -> list[Any]:
        return []


def records(n: int) -> list[RequestRecord]:
    now = time.time()
    out = []
    for i in range(n):
        k = i % 50
        out.append(
            RequestRecord(
                APPS[i % len(APPS)], "web.1", CODES[k], STATUSES[k], 0, 3 + i % 40, 512,
                "GET", "/", "app.localhost", "rid", "info", 4 + (i * 7) % 900, now,
            )
        )  # fmt: skip
    return out


def per_request_us(bus: EventBus, batch: list[RequestRecord]) -> float:
    publish = bus_publisher(bus)
    start = time.perf_counter()
    for rec in batch:
        publish(rec)
    return (time.perf_counter() - start) / len(batch) * 1e6


async def main(events: int, rounds: int) -> None:
    batch = records(events)
    plain = EventBus()
    plain.listen(["router.request"], lambda _e: None)  # the platform table's place: the event is built
    measured = EventBus()
    measured.listen(["router.request"], lambda _e: None)
    service = MetricsService(Settings(), measured, cast(DynoManager, NoDynos()), lambda: list(APPS))
    service.start()
    base, with_metrics = [], []
    for _ in range(rounds):
        base.append(per_request_us(plain, batch))
        with_metrics.append(per_request_us(measured, batch))
    await service.stop()
    b, m = statistics.median(base), statistics.median(with_metrics)
    print(f"publish only:          {b:6.2f} µs/request  (rounds {min(base):.2f}..{max(base):.2f})")
    print(
        f"publish + metrics:     {m:6.2f} µs/request  (rounds {min(with_metrics):.2f}..{max(with_metrics):.2f})"
    )
    print(f"the metrics listener:  {m - b:6.2f} µs/request  ({m / b:.2f}x the bare publish)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
