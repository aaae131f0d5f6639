"""Autoscaling monitors, shaped as the heroku CLI's `ps:autoscale:*` uses Heroku's metrics API
(`/apps/{app}/formation/web/monitors`, a monitor `action_type: scale`, `name: LATENCY_SCALE`,
`value` the p95 goal in ms, `min_quantity`/`max_quantity`, `is_active`), served here under the
app on the daemon's API; each monitor also carries what `ps:autoscale` shows (`current`,
`decisions`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc
from paas.autoscale.service import MonitorInfo
from paas.control import iso

router = APIRouter()


class MonitorBody(BaseModel):
    """Heroku's fields; those the engine does not use (`op`, `period`, ...) are accepted."""

    model_config = ConfigDict(extra="forbid")
    action_type: str | None = None
    is_active: bool | None = None
    min_quantity: int | None = None
    max_quantity: int | None = None
    value: int | None = None
    name: str | None = None
    op: str | None = None
    period: int | None = None
    notification_channels: list[str] | None = None
    notification_period: int | None = None


def monitor_json(m: MonitorInfo) -> dict[str, Any]:
    return {
        "id": m.id,
        "app": {"name": m.app},
        "action_type": "scale",
        "name": "LATENCY_SCALE",
        "op": "GREATER_OR_EQUAL",
        "period": 1,
        "is_active": m.is_active,
        "min_quantity": m.min_quantity,
        "max_quantity": m.max_quantity,
        "value": m.p95_ms,
        "notification_channels": ["app"] if m.notifications else [],
        "notification_period": 1440,
        "current": {"p95_ms": m.current_p95_ms, "requests": m.samples},
        "decisions": [
            {
                "at": iso(datetime.fromtimestamp(d.at, UTC)),
                "from": d.from_quantity,
                "to": d.to_quantity,
                "reason": d.reason,
            }
            for d in m.decisions
        ],
    }


@router.get("/apps/{app}/formation/{ptype}/monitors")
async def list_monitors(svc: Svc, app: str, ptype: str) -> list[dict[str, Any]]:
    return [monitor_json(m) for m in svc.autoscale.monitors(app, ptype)]


def _save(svc: Svc, app: str, ptype: str, body: MonitorBody) -> dict[str, Any]:
    if body.is_active is False:
        return monitor_json(svc.autoscale.disable(app, ptype))
    notify = bool(body.notification_channels)
    monitor = svc.autoscale.enable(app, ptype, body.min_quantity, body.max_quantity, body.value, notify)
    return monitor_json(monitor)


@router.post("/apps/{app}/formation/{ptype}/monitors", status_code=201)
async def create_monitor(svc: Svc, app: str, ptype: str, body: MonitorBody) -> dict[str, Any]:
    return _save(svc, app, ptype, body)


@router.patch("/apps/{app}/formation/{ptype}/monitors/{monitor_id}")
async def update_monitor(
    svc: Svc, app: str, ptype: str, monitor_id: str, body: MonitorBody
) -> dict[str, Any]:
    svc.autoscale.monitor(app, ptype, monitor_id)  # 404 for another app's or an unknown monitor
    return _save(svc, app, ptype, body)
