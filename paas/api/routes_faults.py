"""Dyno faults (toxiproxy-style, per dyno, between router and dyno), kept in memory on the daemon.

    GET    /apps/{app}/faults                    the app's faults (+ registry figures)
    POST   /apps/{app}/faults                    {dyno, type, name?, stream?, toxicity?, attributes{}}
    DELETE /apps/{app}/faults                    all of the app's faults (?dyno=web.1 for one dyno)
    DELETE /apps/{app}/faults/{dyno}/{name}      one fault

    GET    /lab/timers                           the daemon's timers (for `paas lab:run --use-running`)

`dyno` is a dyno name (`web.1`) or a process type (`web` = every web dyno). The daemon owns
the registry (built at start; the router connects through it, router/faults); an app's faults
go away with the app.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, invalid
from paas.api.deps import Services, Svc
from router.faults import DOWNSTREAM, FaultError, FaultRegistry, make_fault

router = APIRouter()

_TARGET = re.compile(r"[A-Za-z0-9_-]{1,30}(\.[0-9]{1,4})?")


class FaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dyno: str
    type: str
    name: str | None = None
    stream: str = DOWNSTREAM
    toxicity: float = 1.0
    attributes: dict[str, Any] = {}


def registry_of(svc: Services) -> FaultRegistry:
    return svc.faults


def _app_name(svc: Services, app: str) -> str:
    return svc.control.get_app(app).name  # 404 when there is no such app


def _check_target(svc: Services, app: str, target: str) -> None:
    if not _TARGET.fullmatch(target) or target.startswith("run"):
        raise invalid(f"{target!r} is not a dyno name (web.1) or a process type (web)")
    types = {p.type for p in svc.control.desired(app).processes}
    ptype = target.split(".", 1)[0]
    if types and ptype not in types:
        raise invalid(f"{app} has no process type {ptype} (it has: {', '.join(sorted(types))})")


@router.get("/apps/{app}/faults")
async def list_faults(svc: Svc, app: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    await svc.router.refresh()  # each router process counts the connections it faulted
    listing: dict[str, Any] = svc.router.fault_listing(name)
    return listing


@router.post("/apps/{app}/faults", status_code=201)
async def add_fault(svc: Svc, app: str, body: FaultCreate) -> dict[str, Any]:
    name = _app_name(svc, app)
    _check_target(svc, name, body.dyno)
    try:
        fault = make_fault(
            body.type, body.attributes, name=body.name, stream=body.stream, toxicity=body.toxicity
        )
        entry = registry_of(svc).add(name, body.dyno, fault)
    except FaultError as exc:
        raise invalid(str(exc)) from None
    return entry.to_json()


@router.delete("/apps/{app}/faults")
async def clear_faults(svc: Svc, app: str, dyno: str | None = None) -> dict[str, Any]:
    name = _app_name(svc, app)
    removed = registry_of(svc).clear(name, dyno or None)
    return {"removed": removed}


@router.delete("/apps/{app}/faults/{dyno}/{fault}")
async def remove_fault(svc: Svc, app: str, dyno: str, fault: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    try:
        entry = registry_of(svc).remove(name, dyno, fault)
    except KeyError:
        raise PaasError(
            404, "not_found", f"Couldn't find a fault named {fault} on {dyno} of {name}."
        ) from None
    return entry.to_json()


@router.get("/lab/timers")
async def lab_timers(svc: Svc) -> dict[str, float]:
    """The daemon's timers in seconds (the lab sizes its experiments to them)."""
    settings = svc.settings
    return {f.name: float(getattr(settings, f.name)) for f in fields(settings) if f.type in ("float", float)}
