"""The router's live figures over HTTP: `GET /router/metrics[?app=]`.

A thin window on `router.fleet.RouterFleet.metrics()`: every router process's figures merged
(per app and per dyno: request counts, rates over 10 s / 60 s, counts by code and status
class, latency p50/p95/p99, plus the routers' connection counters summed, and the processes'
own: workers, workers_up, worker_restarts, records_dropped). The TUI seeds its totals from
here on every connect.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from paas.api.deps import Svc

router = APIRouter()


@router.get("/router/metrics")
async def router_metrics(svc: Svc, app: str | None = None) -> dict[str, Any]:
    name = None
    if app:
        name = svc.control.get_app(app).name  # 404 for an unknown app
    metrics: dict[str, Any] = await svc.router.metrics(name)
    return metrics
