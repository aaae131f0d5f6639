"""Apps, config vars, releases, formation, domains, features, slugs, status, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from common.errors import invalid
from paas.api.deps import Svc
from paas.api.presenters import app_json, domain_json, formation_json, release_json, slug_json
from paas.control.values import FormationChange

router = APIRouter()


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    region: str | None = None
    stack: str | None = None


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    maintenance: bool | None = None
    name: str | None = None


class FormationUpdate(BaseModel):
    type: str | None = None
    quantity: int | None = None
    size: str | None = None


class FormationBatch(BaseModel):
    updates: list[FormationUpdate]


class ReleaseCreate(BaseModel):
    slug: str | None = None
    release: str | None = None  # rollback target (id or version)
    description: str | None = None


class DomainCreate(BaseModel):
    hostname: str


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/status")
async def status(svc: Svc) -> dict[str, Any]:
    return svc.status()


@router.get("/apps")
async def list_apps(svc: Svc) -> list[dict[str, Any]]:
    return [app_json(a, svc.control.urls) for a in svc.control.list_apps()]


@router.post("/apps", status_code=201)
async def create_app(svc: Svc, body: AppCreate | None = None) -> dict[str, Any]:
    body = body or AppCreate()
    info = svc.control.create_app(body.name, body.stack)
    await svc.certs.refresh()  # https://<app>.localhost works once the app exists
    return app_json(info, svc.control.urls)


@router.get("/apps/{app}")
async def get_app(svc: Svc, app: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    return {**app_json(info, svc.control.urls), "acm": svc.certs.acm_enabled(info.id)}


@router.patch("/apps/{app}")
async def update_app(svc: Svc, app: str, body: AppUpdate) -> dict[str, Any]:
    info = svc.control.update_app(app, maintenance=body.maintenance, name=body.name)
    if body.name is not None:
        await svc.certs.refresh()  # the new name's certificate
    return app_json(info, svc.control.urls)


@router.delete("/apps/{app}")
async def destroy_app(svc: Svc, app: str) -> dict[str, Any]:
    return app_json(await svc.teardown.destroy(app), svc.control.urls)


# ---- config vars ----------------------------------------------------------------------
@router.get("/apps/{app}/config-vars")
async def get_config(svc: Svc, app: str) -> dict[str, str]:
    return svc.control.get_config(app)


@router.patch("/apps/{app}/config-vars")
async def patch_config(
    request: Request, svc: Svc, app: str, body: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    release = await svc.releases.update_config(app, body)
    config = svc.control.get_config(app)
    if not request.query_params.get("release"):
        return config
    return {**config, "_release": release_json(release) if release is not None else {}}


@router.get("/apps/{app}/releases/{release}/config-vars")
async def release_config(svc: Svc, app: str, release: str) -> dict[str, str]:
    return svc.control.release_config(app, release)


# ---- releases -------------------------------------------------------------------------
@router.get("/apps/{app}/releases")
async def list_releases(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [release_json(r) for r in svc.control.list_releases(app)]


@router.get("/apps/{app}/releases/{release}")
async def get_release(svc: Svc, app: str, release: str) -> dict[str, Any]:
    return release_json(svc.control.get_release(app, release), detail=True)


@router.post("/apps/{app}/releases", status_code=201)
async def create_release(svc: Svc, app: str, body: ReleaseCreate) -> dict[str, Any]:
    if body.release is not None:
        return release_json(await svc.releases.rollback(app, body.release))
    if body.slug is None:
        raise invalid("Provide slug (to release) or release (to roll back).")
    return release_json(await svc.releases.release_slug(app, body.slug, body.description or "Deploy"))


@router.post("/apps/{app}/actions/rollback", status_code=201)
async def rollback(svc: Svc, app: str) -> dict[str, Any]:
    return release_json(await svc.releases.rollback(app, None))


# ---- formation ------------------------------------------------------------------------
@router.get("/apps/{app}/formation")
async def list_formation(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [formation_json(f) for f in svc.control.list_formation(app)]


@router.get("/apps/{app}/formation/{ptype}")
async def get_formation(svc: Svc, app: str, ptype: str) -> dict[str, Any]:
    for row in svc.control.list_formation(app):
        if row.type == ptype:
            return formation_json(row)
    raise invalid(f"Couldn't find that process type ({ptype}).")


@router.patch("/apps/{app}/formation")
async def batch_scale(svc: Svc, app: str, body: FormationBatch) -> list[dict[str, Any]]:
    changes = [FormationChange(str(u.type), u.quantity, u.size) for u in body.updates]
    return [formation_json(f) for f in svc.control.scale(app, changes)]


@router.patch("/apps/{app}/formation/{ptype}")
async def scale(svc: Svc, app: str, ptype: str, body: FormationUpdate) -> dict[str, Any]:
    change = FormationChange(ptype, body.quantity, body.size)
    return formation_json(svc.control.scale(app, [change])[0])


# ---- domains and features -------------------------------------------------------------
@router.get("/apps/{app}/domains")
async def list_domains(svc: Svc, app: str) -> list[dict[str, Any]]:
    info = svc.control.get_app(app)
    return [domain_json(d, svc.certs.domain_cert(info, d.hostname)) for d in svc.control.list_domains(app)]


@router.post("/apps/{app}/domains", status_code=201)
async def add_domain(svc: Svc, app: str, body: DomainCreate) -> dict[str, Any]:
    domain = svc.control.add_domain(app, body.hostname)
    await svc.certs.refresh()  # with ACM on, its certificate is issued now
    return domain_json(domain, svc.certs.domain_cert(svc.control.get_app(app), domain.hostname))


@router.delete("/apps/{app}/domains/{hostname}")
async def remove_domain(svc: Svc, app: str, hostname: str) -> dict[str, Any]:
    return {"hostname": svc.control.remove_domain(app, hostname)}


KNOWN_FEATURES = {
    "preboot": "Provide seamless web dyno deploys",
    "http-routing-2-dot-0": "Router 2.0: keep-alive connections from the router to dynos",
    "runtime-dyno-metadata": "Expose dyno metadata (HEROKU_RELEASE_VERSION, ...) as config",
}


@router.get("/apps/{app}/features")
async def list_features(svc: Svc, app: str) -> list[dict[str, Any]]:
    enabled = set(svc.control.get_app(app).features)
    return [{"name": n, "description": d, "enabled": n in enabled} for n, d in KNOWN_FEATURES.items()]


@router.patch("/apps/{app}/features/{feature}")
async def set_feature(svc: Svc, app: str, feature: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    if feature not in KNOWN_FEATURES:
        raise invalid(f"Couldn't find feature {feature!r}. Known: {', '.join(KNOWN_FEATURES)}.")
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise invalid("enabled must be true or false.")
    svc.control.set_feature(app, feature, enabled)
    return {"name": feature, "description": KNOWN_FEATURES[feature], "enabled": enabled}


# ---- slugs ----------------------------------------------------------------------------
@router.get("/apps/{app}/slugs/{slug}")
async def get_slug(svc: Svc, app: str, slug: str) -> dict[str, Any]:
    return slug_json(svc.control.get_slug(app, slug))


# ---- the event stream (TUI, scripts) --------------------------------------------------
@router.get("/events")
async def events(svc: Svc, app: str | None = None, kinds: str | None = None) -> StreamingResponse:
    """Newline-delimited JSON of bus events; a `ping` line every 15 s keeps proxies honest."""
    wanted = [k for k in kinds.split(",") if k] if kinds else None
    sub = svc.bus.subscribe(wanted, app=app, maxsize=20_000)

    async def stream() -> AsyncIterator[bytes]:
        reported = 0
        try:
            yield (json.dumps({"kind": "hello", "status": svc.status()}) + "\n").encode()
            while True:
                event = await sub.get(timeout=15)
                if sub.closed:
                    return
                if sub.dropped > reported:
                    yield (
                        json.dumps({"kind": "overflow", "dropped": sub.dropped - reported}) + "\n"
                    ).encode()
                    reported = sub.dropped
                if event is None:
                    yield b'{"kind":"ping"}\n'
                    continue
                yield (json.dumps(event.to_json(), default=str) + "\n").encode()
        except asyncio.CancelledError:
            pass
        finally:
            sub.close()

    return StreamingResponse(stream(), media_type="application/x-ndjson")
