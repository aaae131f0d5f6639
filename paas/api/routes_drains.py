"""Log drains (Platform API `log-drain`): GET/POST /apps/{app}/log-drains, GET/DELETE …/{id|url|token}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc
from paas.control import iso
from paas.logs.drains import DrainInfo, DrainStatus

router = APIRouter()


class DrainCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str


def drain_json(d: DrainInfo, status: DrainStatus | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": d.id,
        "addon": None,
        "app": {"id": d.app_id, "name": d.app},
        "url": d.url,
        "token": d.token,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }
    if status is not None:  # ours: what the drain did since the daemon started
        data["status"] = {
            "buffered": status.buffered,
            "sent": status.sent,
            "dropped": status.dropped,
            "failures": status.failures,
            "last_error": status.last_error,
        }
    return data


@router.get("/apps/{app}/log-drains")
async def list_drains(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [drain_json(d, svc.drains.status(d.id)) for d in svc.drains.of_app(app)]


@router.post("/apps/{app}/log-drains", status_code=201)
async def add_drain(svc: Svc, app: str, body: DrainCreate) -> dict[str, Any]:
    return drain_json(svc.drains.add(app, body.url))


@router.get("/apps/{app}/log-drains/{ident:path}")
async def get_drain(svc: Svc, app: str, ident: str) -> dict[str, Any]:
    d = svc.drains.get(app, ident)
    return drain_json(d, svc.drains.status(d.id))


@router.delete("/apps/{app}/log-drains/{ident:path}")
async def remove_drain(svc: Svc, app: str, ident: str) -> dict[str, Any]:
    return drain_json(await svc.drains.remove(app, ident))
