"""The router's live figures over HTTP: `GET /router/metrics[?app=]`.

A thin window on `router.server.Router.metrics()` (per app and per dyno: request counts,
rates over 10 s / 60 s, counts by code and status class, latency p50/p95/p99, plus the
router's own connection counters). The TUI seeds its totals from here on every connect.
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
    metrics: dict[str, Any] = svc.router.metrics(name)
    return metrics
