"""Add-ons: create, list, info, destroy (providers do the service-specific work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc

router = APIRouter()


class AddonCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    plan: str
    name: str | None = None
    attachment: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


@router.get("/addons")
async def all_addons(svc: Svc) -> list[dict[str, Any]]:
    return svc.addons.list(None)


@router.get("/addon-services")
async def addon_services(svc: Svc) -> list[dict[str, Any]]:
    return svc.addons.services()


@router.get("/apps/{app}/addons")
async def list_addons(svc: Svc, app: str) -> list[dict[str, Any]]:
    return svc.addons.list(app)


@router.post("/apps/{app}/addons", status_code=201)
async def create_addon(svc: Svc, app: str, body: AddonCreate) -> dict[str, Any]:
    attachment = (body.attachment or {}).get("name")
    return await svc.addons.create(app, body.plan, body.name, attachment)


@router.get("/apps/{app}/addons/{addon}")
async def get_addon(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    return svc.addons.get(app, addon)


@router.delete("/apps/{app}/addons/{addon}")
async def destroy_addon(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    return await svc.addons.destroy(app, addon)
