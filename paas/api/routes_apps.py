"""Apps, account and collaborators, config vars, releases, formation, domains, features, slugs,
status, events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from common.errors import invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.presenters import (
    AppSizes,
    account_json,
    app_json,
    collaborator_json,
    domain_json,
    feature_json,
    formation_json,
    release_json,
    slug_json,
)
from paas.api.ranges import RangeSpec
from paas.api.routes_logs import release_output_url
from paas.builds.gitrepo import repo_path
from paas.control import USER
from paas.control.values import AppInfo, FormationChange, ReleaseInfo

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


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _sizes(svc: Services, app: AppInfo) -> AppSizes:
    slug = svc.control.current_slug(app.id)
    return AppSizes(
        repo=_tree_bytes(repo_path(svc.settings.repos_dir, app.name)), slug=slug.size if slug else 0
    )


def _app(svc: Services, app: AppInfo) -> dict[str, Any]:
    return app_json(app, svc.control.urls, _sizes(svc, app))


@router.get("/apps")
async def list_apps(svc: Svc) -> list[dict[str, Any]]:
    return [_app(svc, a) for a in svc.control.list_apps()]


@router.get("/users/{user}/apps")
async def user_apps(svc: Svc, user: str) -> list[dict[str, Any]]:
    """`~` is the caller; every local app belongs to the one local user."""
    if user not in ("~", USER):
        raise not_found("user")
    return [_app(svc, a) for a in svc.control.list_apps()]


@router.post("/apps", status_code=201)
async def create_app(svc: Svc, body: AppCreate | None = None) -> dict[str, Any]:
    body = body or AppCreate()
    info = svc.control.create_app(body.name, body.stack)
    await svc.certs.refresh()  # https://<app>.localhost works once the app exists
    return _app(svc, info)


@router.get("/apps/{app}")
async def get_app(svc: Svc, app: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    return {**_app(svc, info), "acm": svc.certs.acm_enabled(info.id)}


@router.patch("/apps/{app}")
async def update_app(svc: Svc, app: str, body: AppUpdate) -> dict[str, Any]:
    info = svc.control.update_app(app, maintenance=body.maintenance, name=body.name)
    if body.name is not None:
        await svc.certs.refresh()  # the new name's certificate
    return _app(svc, info)


# ---- the account and collaborators ------------------------------------------------------
@router.get("/account")
async def account() -> dict[str, Any]:
    return account_json()


@router.get("/users/{user}")
async def user(user: str) -> dict[str, Any]:
    """`~` is the caller: the one local user."""
    if user not in ("~", USER, account_json()["id"]):
        raise not_found("user")
    return account_json()


@router.get("/account/features")
async def account_features() -> list[dict[str, Any]]:
    return []  # no account-wide labs features locally


@router.get("/account/features/{feature}")
async def account_feature(feature: str) -> dict[str, Any]:
    raise not_found("account feature")


@router.get("/apps/{app}/collaborators")
async def collaborators(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [collaborator_json(svc.control.get_app(app))]


@router.delete("/apps/{app}")
async def destroy_app(svc: Svc, app: str) -> dict[str, Any]:
    return app_json(await svc.teardown.destroy(app), svc.control.urls)  # sizes: gone with it


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
def _release(svc: Services, r: ReleaseInfo, detail: bool = False) -> dict[str, Any]:
    return release_json(r, detail, release_output_url(svc, r.app, r.id))


@router.get("/apps/{app}/releases")
async def list_releases(request: Request, svc: Svc, app: str) -> JSONResponse:
    """Oldest first; a `Range: version ..; max=N, order=desc` header (what Heroku's CLI sends)
    picks the newest N, answered 206 with `Next-Range` when more remain."""
    releases = svc.control.list_releases(app)
    spec = RangeSpec.parse(request.headers.get("range"), field="version")
    page, more = spec.apply(releases, key=lambda r: r.version)
    headers = {"Accept-Ranges": "version", **spec.next_range_header(page, more, key=lambda r: r.version)}
    return JSONResponse([_release(svc, r) for r in page], status_code=206 if more else 200, headers=headers)


@router.get("/apps/{app}/releases/{release}")
async def get_release(svc: Svc, app: str, release: str) -> dict[str, Any]:
    return _release(svc, svc.control.get_release(app, release), detail=True)


@router.post("/apps/{app}/releases", status_code=201)
async def create_release(svc: Svc, app: str, body: ReleaseCreate) -> dict[str, Any]:
    if body.release is not None:
        return _release(svc, await svc.releases.rollback(app, body.release))
    if body.slug is None:
        raise invalid("Provide slug (to release) or release (to roll back).")
    return _release(svc, await svc.releases.release_slug(app, body.slug, body.description or "Deploy"))


@router.post("/apps/{app}/actions/rollback", status_code=201)
async def rollback(svc: Svc, app: str) -> dict[str, Any]:
    return _release(svc, await svc.releases.rollback(app, None))


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
    return [
        domain_json(d, info, svc.certs.domain_cert(info, d.hostname)) for d in svc.control.list_domains(app)
    ]


@router.get("/apps/{app}/domains/{hostname}")
async def get_domain(svc: Svc, app: str, hostname: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    for d in svc.control.list_domains(app):
        if d.hostname == hostname.lower() or d.id == hostname:
            return domain_json(d, info, svc.certs.domain_cert(info, d.hostname))
    raise not_found("domain")


@router.post("/apps/{app}/domains", status_code=201)
async def add_domain(svc: Svc, app: str, body: DomainCreate) -> dict[str, Any]:
    domain = svc.control.add_domain(app, body.hostname)
    await svc.certs.refresh()  # with ACM on, its certificate is issued now
    info = svc.control.get_app(app)
    return domain_json(domain, info, svc.certs.domain_cert(info, domain.hostname))


@router.delete("/apps/{app}/domains/{hostname}")
async def remove_domain(svc: Svc, app: str, hostname: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    found = [d for d in svc.control.list_domains(app) if d.hostname == hostname.lower() or d.id == hostname]
    removed = svc.control.remove_domain(app, found[0].hostname if found else hostname)
    return domain_json(found[0], info) if found else {"hostname": removed}


# Heroku's states: `general` features are listed by `heroku features`, the others (labs) by `heroku labs`
FEATURE_STATES = {"preboot": "general"}
KNOWN_FEATURES = {
    "preboot": "Provide seamless web dyno deploys",
    "http-routing-2-dot-0": "Router 2.0: keep-alive connections from the router to dynos",
    "runtime-dyno-metadata": "Expose dyno metadata (HEROKU_RELEASE_VERSION, ...) as config",
    "log-runtime-metrics": "Emit dyno load and memory samples to the app's log every 20 s",
}


@router.get("/apps/{app}/features")
async def list_features(svc: Svc, app: str) -> list[dict[str, Any]]:
    enabled = set(svc.control.get_app(app).features)
    return [
        feature_json(n, d, n in enabled, FEATURE_STATES.get(n, "beta")) for n, d in KNOWN_FEATURES.items()
    ]


@router.get("/apps/{app}/features/{feature}")
async def get_feature(svc: Svc, app: str, feature: str) -> dict[str, Any]:
    enabled = set(svc.control.get_app(app).features)
    if feature not in KNOWN_FEATURES:
        raise not_found("feature")
    return feature_json(
        feature, KNOWN_FEATURES[feature], feature in enabled, FEATURE_STATES.get(feature, "beta")
    )


@router.patch("/apps/{app}/features/{feature}")
async def set_feature(svc: Svc, app: str, feature: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    if feature not in KNOWN_FEATURES:
        raise invalid(f"Couldn't find feature {feature!r}. Known: {', '.join(KNOWN_FEATURES)}.")
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise invalid("enabled must be true or false.")
    svc.control.set_feature(app, feature, enabled)
    return feature_json(feature, KNOWN_FEATURES[feature], enabled, FEATURE_STATES.get(feature, "beta"))


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
