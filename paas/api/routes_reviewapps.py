"""Review apps (Platform API `review-app-config` and `review-app` shapes, simplified).

POST|PATCH /pipelines/{p}/review-app-config {automatic_review_apps?, destroy_stale_apps?}  — enable / change
GET /pipelines/{p}/review-app-config        DELETE /pipelines/{p}/review-app-config  — disable (destroys them)
GET /pipelines/{p}/review-apps   GET /review-apps   GET|DELETE /review-apps/{id, app name or branch}?pipeline=
Review apps are made by pushing a branch (see `routes_git`), not by POST.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc
from paas.api.presenters import review_app_json, review_config_json

router = APIRouter()


class ReviewConfigChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    automatic_review_apps: bool | None = None
    destroy_stale_apps: bool | None = None


@router.post("/pipelines/{pipeline}/review-app-config", status_code=201)
async def enable_review_apps(svc: Svc, pipeline: str, body: ReviewConfigChange) -> dict[str, Any]:
    config = svc.reviewapps.configure(pipeline, body.automatic_review_apps, body.destroy_stale_apps)
    return review_config_json(config)


@router.patch("/pipelines/{pipeline}/review-app-config")
async def update_review_config(svc: Svc, pipeline: str, body: ReviewConfigChange) -> dict[str, Any]:
    svc.reviewapps.config(pipeline)  # 404 unless enabled: PATCH changes, it does not enable
    config = svc.reviewapps.configure(pipeline, body.automatic_review_apps, body.destroy_stale_apps)
    return review_config_json(config)


@router.get("/pipelines/{pipeline}/review-app-config")
async def review_config(svc: Svc, pipeline: str) -> dict[str, Any]:
    return review_config_json(svc.reviewapps.config(pipeline))


@router.delete("/pipelines/{pipeline}/review-app-config")
async def disable_review_apps(svc: Svc, pipeline: str) -> dict[str, Any]:
    return review_config_json(await svc.reviewapps.disable(pipeline))


@router.get("/pipelines/{pipeline}/review-apps")
async def pipeline_review_apps(svc: Svc, pipeline: str) -> list[dict[str, Any]]:
    return [review_app_json(r, svc.control.urls) for r in svc.reviewapps.list_apps(pipeline)]


@router.get("/review-apps")
async def review_apps(svc: Svc) -> list[dict[str, Any]]:
    return [review_app_json(r, svc.control.urls) for r in svc.reviewapps.list_apps()]


@router.get("/review-apps/{ident:path}")
async def review_app(svc: Svc, ident: str, pipeline: str | None = None) -> dict[str, Any]:
    return review_app_json(svc.reviewapps.find(ident, pipeline), svc.control.urls)


@router.delete("/review-apps/{ident:path}")
async def destroy_review_app(svc: Svc, ident: str, pipeline: str | None = None) -> dict[str, Any]:
    """pr-predestroy, then the app and its add-ons go; the response carries the script's output."""
    lines: list[str] = []
    gone = await svc.reviewapps.destroy(ident, pipeline, lines.append)
    return {**review_app_json(gone, svc.control.urls), "output": lines}
