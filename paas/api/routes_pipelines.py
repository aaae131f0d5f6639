"""Pipelines, couplings and promotions (Platform API shapes, simplified).

POST /pipelines {name}                         GET /pipelines, /pipelines/{p}, DELETE /pipelines/{p}
POST /pipeline-couplings {pipeline, app, stage?}  GET /pipelines/{p}/pipeline-couplings
GET|PATCH|DELETE /apps/{app}/pipeline-couplings
POST /pipeline-promotions {source: {app: {name}}, targets?: [{app: {name}}]}  — runs to completion
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from common.errors import invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.presenters import app_json, coupling_json, pipeline_json, promotion_json, target_json
from paas.builds.pipelines import CouplingInfo

router = APIRouter()


class PipelineCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class CouplingCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    pipeline: str
    app: str
    stage: str | None = None


class CouplingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str


class AppRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    id: str | None = None

    def ident(self) -> str:
        value = self.name or self.id
        if not value:
            raise invalid("Each app reference needs a name or an id.")
        return value


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    app: AppRef


class IdFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: list[str]


class AppFilter(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    in_: IdFilter = Field(alias="in")


class PromotionCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: Endpoint
    targets: list[Endpoint] | None = None


@router.post("/pipelines", status_code=201)
async def create_pipeline(svc: Svc, body: PipelineCreate) -> dict[str, Any]:
    return pipeline_json(svc.pipelines.create(body.name))


@router.get("/pipelines")
async def list_pipelines(request: Request, svc: Svc) -> list[dict[str, Any]]:
    """All pipelines; `?eq[name]=NAME` (how Heroku's CLI finds one by name) keeps that one."""
    wanted = request.query_params.get("eq[name]")
    return [pipeline_json(p) for p in svc.pipelines.list_pipelines() if wanted is None or p.name == wanted]


@router.get("/pipelines/{pipeline}")
async def get_pipeline(svc: Svc, pipeline: str) -> dict[str, Any]:
    return pipeline_json(svc.pipelines.get(pipeline))


@router.delete("/pipelines/{pipeline}")
async def destroy_pipeline(svc: Svc, pipeline: str) -> dict[str, Any]:
    svc.pipelines.get(pipeline)  # 404 first
    await svc.reviewapps.forget_pipeline(pipeline)  # its review apps go with it, as on Heroku
    return pipeline_json(svc.pipelines.destroy(pipeline))


@router.get("/pipelines/{pipeline}/pipeline-couplings")
async def pipeline_couplings(svc: Svc, pipeline: str) -> list[dict[str, Any]]:
    return [coupling_json(c) for c in svc.pipelines.couplings(pipeline)]


@router.get("/pipeline-couplings/{coupling}")
async def get_coupling(svc: Svc, coupling: str) -> dict[str, Any]:
    return coupling_json(_coupling(svc, coupling))


@router.patch("/pipeline-couplings/{coupling}")
async def patch_coupling(svc: Svc, coupling: str, body: CouplingUpdate) -> dict[str, Any]:
    return coupling_json(svc.pipelines.update_coupling(_coupling(svc, coupling).app_id, body.stage))


@router.delete("/pipeline-couplings/{coupling}")
async def delete_coupling(svc: Svc, coupling: str) -> dict[str, Any]:
    return coupling_json(svc.pipelines.uncouple(_coupling(svc, coupling).app_id))


def _coupling(svc: Services, ident: str) -> CouplingInfo:
    """A coupling by its id, or by its app (name or id)."""
    for pipeline in svc.pipelines.list_pipelines():
        for found in svc.pipelines.couplings(pipeline.id):
            if ident in (found.id, found.app_id, found.app):
                return found
    raise not_found("pipeline coupling")


@router.post("/pipeline-couplings", status_code=201)
async def create_coupling(svc: Svc, body: CouplingCreate) -> dict[str, Any]:
    return coupling_json(svc.pipelines.couple(body.pipeline, body.app, body.stage))


@router.get("/apps/{app}/pipeline-couplings")
async def app_coupling(svc: Svc, app: str) -> dict[str, Any]:
    return coupling_json(svc.pipelines.app_coupling(app))


@router.patch("/apps/{app}/pipeline-couplings")
async def update_coupling(svc: Svc, app: str, body: CouplingUpdate) -> dict[str, Any]:
    return coupling_json(svc.pipelines.update_coupling(app, body.stage))


@router.delete("/apps/{app}/pipeline-couplings")
async def remove_coupling(svc: Svc, app: str) -> dict[str, Any]:
    return coupling_json(svc.pipelines.uncouple(app))


@router.post("/pipeline-promotions", status_code=201)
async def promote(svc: Svc, body: PromotionCreate) -> dict[str, Any]:
    targets = [t.app.ident() for t in body.targets] if body.targets else None
    return promotion_json(await svc.pipelines.promote(body.source.app.ident(), targets))


@router.get("/pipeline-promotions/{promotion}")
async def get_promotion(svc: Svc, promotion: str) -> dict[str, Any]:
    return promotion_json(svc.pipelines.promotion(promotion))


@router.get("/pipeline-promotions/{promotion}/promotion-targets")
async def promotion_targets(svc: Svc, promotion: str) -> list[dict[str, Any]]:
    found = svc.pipelines.promotion(promotion)
    return [target_json(t, found.id) for t in found.targets]


@router.post("/filters/apps")
async def filter_apps(svc: Svc, body: AppFilter) -> list[dict[str, Any]]:
    """The apps whose ids (or names) are listed in `{"in": {"id": [...]}}` (pipelines:info)."""
    wanted = set(body.in_.id)
    return [
        app_json(a, svc.control.urls) for a in svc.control.list_apps() if a.id in wanted or a.name in wanted
    ]
