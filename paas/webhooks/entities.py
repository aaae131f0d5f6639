"""Which bus event is which webhook entity: `api:release`, `api:build`, `dyno`, ...

`describe` turns one bus event into what a notification says about it (the entity it is
included under, the resource, the action and the resource's data), or None when webhooks
have nothing to say about that event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.errors import PaasError
from common.events import Event
from paas.control import USER, ControlPlane, iso

# Heroku's entities; the ones this platform has events for are delivered
ENTITIES = (
    "api:addon-attachment",
    "api:addon",
    "api:app",
    "api:build",
    "api:collaborator",
    "api:domain",
    "api:dyno",
    "api:formation",
    "api:release",
    "api:sni-endpoint",
    "dyno",
)
KINDS = (
    "release.created",
    "release.updated",
    "build.updated",
    "dyno.state",
    "formation.changed",
    "app.updated",
    "addon.updated",
)


@dataclass(frozen=True)
class Notice:
    include: str
    resource: str
    action: str  # create | update | destroy
    data: dict[str, Any]


def _release(control: ControlPlane, event: Event, action: str) -> Notice:
    app = control.get_app(event.app or "")
    r = control.get_release(app.name, int(event.data["version"]))
    data = {
        "id": r.id,
        "app": {"id": app.id, "name": app.name},
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "current": r.current,
        "slug": {"id": r.slug_id} if r.slug_id else None,
        "user": {"id": USER, "email": USER},
        "addon_plan_names": list(r.addon_plan_names),
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }
    return Notice("api:release", "release", action, data)


def _app_ref(control: ControlPlane, event: Event) -> dict[str, Any]:
    app = control.get_app(event.app or "")
    return {"id": app.id, "name": app.name}


def _build(control: ControlPlane, event: Event) -> Notice:
    status = str(event.data.get("status"))
    data = {"id": event.data.get("id"), "app": _app_ref(control, event), "status": status}
    return Notice("api:build", "build", "create" if status == "pending" else "update", data)


def _dyno(control: ControlPlane, event: Event) -> Notice:
    d = event.data
    data = {
        "name": d.get("dyno"),
        "type": d.get("type"),
        "state": d.get("state"),
        "app": _app_ref(control, event),
        "release": {"version": d.get("release")},
    }
    action = "create" if d.get("previous") is None else "destroy" if d.get("state") == "down" else "update"
    return Notice("dyno", "dyno", action, data)


def _formation(control: ControlPlane, event: Event) -> Notice:
    d = event.data
    data = {
        "app": _app_ref(control, event),
        "type": d.get("type"),
        "quantity": d.get("quantity"),
        "size": d.get("size"),
    }
    return Notice("api:formation", "formation", "update", data)


def _app(control: ControlPlane, event: Event) -> Notice:
    app = control.get_app(event.app or "")
    data = {"id": app.id, "name": app.name, "maintenance": app.maintenance, "features": list(app.features)}
    return Notice("api:app", "app", "update", data)


def _addon(control: ControlPlane, event: Event) -> Notice:
    d = event.data
    data = {
        "name": d.get("name"),
        "app": _app_ref(control, event),
        "addon_service": {"name": d.get("service")},
        "plan": {"name": d.get("plan")},
        "state": d.get("state"),
    }
    action = "destroy" if d.get("state") == "deprovisioned" else "update"
    return Notice("api:addon", "addon", action, data)


DESCRIBERS: dict[str, Callable[[ControlPlane, Event], Notice]] = {
    "release.created": lambda c, e: _release(c, e, "create"),
    "release.updated": lambda c, e: _release(c, e, "update"),
    "build.updated": _build,
    "dyno.state": _dyno,
    "formation.changed": _formation,
    "app.updated": _app,
    "addon.updated": _addon,
}


def describe(control: ControlPlane, event: Event) -> Notice | None:
    describer = DESCRIBERS.get(event.kind)
    if describer is None:
        return None
    try:
        return describer(control, event)
    except (PaasError, KeyError, ValueError, TypeError):
        return None  # the app or release went away meanwhile: nothing to tell
