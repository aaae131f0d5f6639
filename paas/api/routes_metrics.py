"""Metrics over HTTP: one app's last hour (`GET /apps/{app}/metrics`), the platform's figures for
Prometheus (`GET /metrics`, OpenMetrics text), both behind the API token like every route.

    GET /apps/{app}/metrics?window=3600   steps of `PAAS_METRICS_RESOLUTION` seconds: response
                                          time p50/p95/p99/max, throughput by status class, errors
                                          by H-code, memory per dyno against quota, dyno load, events
    GET /metrics                          OpenMetrics 1.0 (names: paas.metrics.scrape)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from paas.api.deps import Svc
from paas.metrics.openmetrics import CONTENT_TYPE
from paas.metrics.timeline import WINDOW

router = APIRouter()


@router.get("/apps/{app}/metrics")
async def app_metrics(
    svc: Svc, app: str, window: Annotated[int, Query(ge=60, le=WINDOW)] = WINDOW
) -> dict[str, Any]:
    name = svc.control.get_app(app).name  # 404 for an unknown app
    return svc.metrics.series(name, window).to_json()


@router.get("/metrics", response_class=Response)
async def openmetrics(svc: Svc) -> Response:
    return Response(await svc.scrape.text(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
