"""Pipelines, couplings and promotions (Platform API shapes, simplified).

POST /pipelines {name}                         GET /pipelines, /pipelines/{p}, DELETE /pipelines/{p}
POST /pipeline-couplings {pipeline, app, stage?}  GET /pipelines/{p}/pipeline-couplings
GET|PATCH|DELETE /apps/{app}/pipeline-couplings
POST /pipeline-promotions {source: {app: {name}}, targets?: [{app: {name}}]}  — runs to completion
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from common.errors import invalid
from paas.api.deps import Svc
from paas.api.presenters import coupling_json, pipeline_json, promotion_json

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


class PromotionCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: Endpoint
    targets: list[Endpoint] | None = None


@router.post("/pipelines", status_code=201)
async def create_pipeline(svc: Svc, body: PipelineCreate) -> dict[str, Any]:
    return pipeline_json(svc.pipelines.create(body.name))


@router.get("/pipelines")
async def list_pipelines(svc: Svc) -> list[dict[str, Any]]:
    return [pipeline_json(p) for p in svc.pipelines.list_pipelines()]


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
