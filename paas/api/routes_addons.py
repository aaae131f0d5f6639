"""Add-ons: create, list, info, destroy (providers do the service-specific work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from paas.api.app import daemon_of

router = APIRouter()


class AddonCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    plan: str
    name: str | None = None
    attachment: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


@router.get("/addons")
async def all_addons(request: Request) -> list[dict[str, Any]]:
    return daemon_of(request).addons.list(None)


@router.get("/addon-services")
async def addon_services(request: Request) -> list[dict[str, Any]]:
    return daemon_of(request).addons.services()


@router.get("/apps/{app}/addons")
async def list_addons(request: Request, app: str) -> list[dict[str, Any]]:
    return daemon_of(request).addons.list(app)


@router.post("/apps/{app}/addons", status_code=201)
async def create_addon(request: Request, app: str, body: AddonCreate) -> dict[str, Any]:
    attachment = (body.attachment or {}).get("name")
    return await daemon_of(request).addons.create(app, body.plan, body.name, attachment)


@router.get("/apps/{app}/addons/{addon}")
async def get_addon(request: Request, app: str, addon: str) -> dict[str, Any]:
    return daemon_of(request).addons.get(app, addon)


@router.delete("/apps/{app}/addons/{addon}")
async def destroy_addon(request: Request, app: str, addon: str) -> dict[str, Any]:
    return await daemon_of(request).addons.destroy(app, addon)
