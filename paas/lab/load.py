"""A small, bounded HTTP load through the router: fixed workers, a deadline and a request cap.

What each client saw is counted by outcome: the status code ("200", "503"), or
"interrupted" (the response started and was cut off, as a client sees an H18), "timeout",
"refused", "error".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_REQUESTS = 2000  # hard cap per load, whatever the caller asks


@dataclass
class LoadReport:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def merge(self, other: LoadReport) -> LoadReport:
        return LoadReport(
            self.sent + other.sent,
            self.outcomes + other.outcomes,
            max(self.seconds, other.seconds),
            self.latencies_ms + other.latencies_ms,
        )

    def to_json(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "sent": self.sent,
            "outcomes": dict(sorted(self.outcomes.items())),
            "seconds": round(self.seconds, 2),
            "p50_ms": round(lat[len(lat) // 2]) if lat else None,
            "p99_ms": round(lat[max(0, -(-len(lat) * 99 // 100) - 1)]) if lat else None,  # nearest rank
            "max_ms": round(lat[-1]) if lat else None,
        }


def classify(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "refused"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "interrupted"
    return "error"


async def request(client: httpx.AsyncClient, path: str) -> str:
    try:
        response = await client.get(path)
    except httpx.HTTPError as exc:
        return classify(exc)
    return str(response.status_code)


async def drive(
    router_url: str,
    host: str,
    path: str | Callable[[int], str],
    *,
    concurrency: int = 4,
    seconds: float = 2.0,
    max_requests: int = 400,
    timeout: float = 30.0,
    gap: float = 0.0,
    stop: asyncio.Event | None = None,
    keepalive: bool = True,
) -> LoadReport:
    """`concurrency` workers send GET `path` (or `path(i)` for the i-th request) to the router
    with `Host: host` until `seconds` pass, `max_requests` are sent, or `stop` is set.
    `gap` = pause between one worker's requests."""
    report = LoadReport()
    cap = min(max_requests, MAX_REQUESTS)
    started = time.monotonic()
    deadline = started + seconds
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency if keepalive else 0
    )
    async with httpx.AsyncClient(
        base_url=router_url, headers={"Host": host}, timeout=timeout, limits=limits
    ) as client:

        async def worker() -> None:
            while time.monotonic() < deadline and report.sent < cap and not (stop and stop.is_set()):
                i = report.sent
                report.sent += 1
                t0 = time.monotonic()
                outcome = await request(client, path(i) if callable(path) else path)
                report.latencies_ms.append((time.monotonic() - t0) * 1000)
                report.outcomes[outcome] += 1
                if gap:
                    await asyncio.sleep(gap)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    report.seconds = time.monotonic() - started
    return report
