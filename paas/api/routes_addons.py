"""Add-ons and their attachments: create, list, info, destroy, resolve (providers do the
service-specific work).

paas attaches each add-on once, to the app that owns it, under one name (`DATABASE`,
`REDIS`, ...): the attachment resources (`/addon-attachments`, per app, per add-on, and the
resolvers Heroku's CLI calls with whatever name a user typed) present that one attachment.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.presenters import attachment_json

router = APIRouter()


class PlanRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class AddonCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    plan: str | PlanRef  # Heroku takes the plan's name, or `{"name": ...}` as its CLI sends
    name: str | None = None
    attachment: dict[str, Any] | None = None
    config: dict[str, Any] | None = None

    def plan_name(self) -> str:
        return self.plan if isinstance(self.plan, str) else self.plan.name


class AddonResolve(BaseModel):
    model_config = ConfigDict(extra="ignore")
    addon: str
    app: str | None = None
    addon_service: str | None = None


class AttachmentResolve(BaseModel):
    model_config = ConfigDict(extra="ignore")
    addon_attachment: str
    app: str | None = None
    addon_service: str | None = None


def _attachments(addons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [attachment_json(a) for a in addons]


def _addons_of(svc: Services, app: str | None) -> list[dict[str, Any]]:
    return svc.addons.list(app)


def _service_ok(addon: dict[str, Any], service: str | None) -> bool:
    return service is None or addon["addon_service"]["name"] == service


def _names_attachment(addon: dict[str, Any], ident: str) -> bool:
    """Whether `ident` names this add-on's attachment: `DATABASE`, `DATABASE_URL`, the
    add-on's name or id (Heroku's resolver accepts each)."""
    upper = ident.upper()
    return ident in (addon["id"], addon["name"]) or upper in (
        addon["attachment"],
        addon["attachment"] + "_URL",
    )


def _global_addon(svc: Services, ident: str) -> dict[str, Any]:
    for addon in _addons_of(svc, None):
        if ident in (addon["id"], addon["name"]):
            return addon
    raise not_found("add-on")


@router.get("/addons")
async def all_addons(svc: Svc) -> list[dict[str, Any]]:
    return svc.addons.list(None)


@router.get("/addons/{addon}")
async def global_addon(svc: Svc, addon: str) -> dict[str, Any]:
    found = _global_addon(svc, addon)
    return svc.addons.get(found["app"]["name"], found["id"])


@router.get("/addons/{addon}/addon-attachments")
async def addon_attachments(svc: Svc, addon: str) -> list[dict[str, Any]]:
    return _attachments([_global_addon(svc, addon)])


@router.get("/addon-services")
async def addon_services(svc: Svc) -> list[dict[str, Any]]:
    return svc.addons.services()


@router.get("/addon-attachments")
async def all_attachments(svc: Svc) -> list[dict[str, Any]]:
    return _attachments(_addons_of(svc, None))


@router.post("/addon-attachments")
async def attach_elsewhere(svc: Svc) -> dict[str, Any]:
    """`heroku addons:attach`: paas attaches each add-on once, to the app that owns it."""
    raise invalid(
        "paas attaches each add-on only to the app that owns it: attaching it to other apps, "
        "or under a second name, is not supported. Copy its config var (heroku config:get) instead."
    )


@router.delete("/addon-attachments/{attachment}")
async def detach(svc: Svc, attachment: str) -> dict[str, Any]:
    """`heroku addons:detach`: the one attachment goes with the add-on (`addons:destroy`)."""
    raise invalid("paas keeps an add-on attached to the app that owns it: use addons:destroy to remove it.")


@router.get("/apps/{app}/addon-attachments")
async def app_attachments(svc: Svc, app: str) -> list[dict[str, Any]]:
    return _attachments(_addons_of(svc, app))


@router.get("/apps/{app}/addon-attachments/{attachment}")
async def app_attachment(svc: Svc, app: str, attachment: str) -> dict[str, Any]:
    for addon in _addons_of(svc, app):
        if _names_attachment(addon, attachment) or attachment == attachment_json(addon)["id"]:
            return attachment_json(addon)
    raise not_found("add-on attachment")


@router.post("/actions/addons/resolve")
async def resolve_addon(svc: Svc, body: AddonResolve) -> list[dict[str, Any]]:
    """Add-ons `addon` names (id, name, or attachment name on `app`), as a list."""
    try:
        candidates = _addons_of(svc, body.app)
    except PaasError:
        candidates = _addons_of(svc, None)
    found = [a for a in candidates if _names_attachment(a, body.addon) and _service_ok(a, body.addon_service)]
    if not found:
        raise not_found("add-on")
    return found


@router.post("/actions/addon-attachments/resolve")
async def resolve_attachment(svc: Svc, body: AttachmentResolve) -> list[dict[str, Any]]:
    candidates = _addons_of(svc, body.app)
    found = [
        a
        for a in candidates
        if _names_attachment(a, body.addon_attachment) and _service_ok(a, body.addon_service)
    ]
    if not found:
        raise not_found("add-on attachment")
    return _attachments(found)


@router.get("/apps/{app}/addons")
async def list_addons(svc: Svc, app: str) -> list[dict[str, Any]]:
    return svc.addons.list(app)


@router.post("/apps/{app}/addons", status_code=201)
async def create_addon(svc: Svc, app: str, body: AddonCreate) -> dict[str, Any]:
    attachment = (body.attachment or {}).get("name")
    return await svc.addons.create(app, body.plan_name(), body.name, attachment)


@router.get("/apps/{app}/addons/{addon}")
async def get_addon(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    return svc.addons.get(app, addon)


@router.delete("/apps/{app}/addons/{addon}")
async def destroy_addon(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    return await svc.addons.destroy(app, addon)
