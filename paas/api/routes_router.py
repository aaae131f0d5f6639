"""The router's live figures over HTTP: `GET /router/metrics[?app=]`.

A thin window on `router.server.Router.metrics()` (per app and per dyno: request counts,
rates over 10 s / 60 s, counts by code and status class, latency p50/p95/p99, plus the
router's own connection counters). The TUI seeds its totals from here on every connect.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from common.errors import PaasError
from paas.api.app import daemon_of

router = APIRouter()


@router.get("/router/metrics")
async def router_metrics(request: Request, app: str | None = None) -> dict[str, Any]:
    daemon = daemon_of(request)
    if daemon.router is None:
        raise PaasError(503, "unavailable", "The router is not running in this daemon.")
    name = None
    if app:
        name = str(daemon.control.get_app(app)["name"])  # 404 for an unknown app
    metrics: dict[str, Any] = daemon.router.metrics(name)
    return metrics
