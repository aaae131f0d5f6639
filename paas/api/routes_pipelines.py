"""Pipelines, couplings and promotions (Platform API shapes, simplified).

POST /pipelines {name}                         GET /pipelines, /pipelines/{p}, DELETE /pipelines/{p}
POST /pipeline-couplings {pipeline, app, stage?}  GET /pipelines/{p}/pipeline-couplings
GET|PATCH|DELETE /apps/{app}/pipeline-couplings
POST /pipeline-promotions {source: {app: {name}}, targets?: [{app: {name}}]}  — runs to completion
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from common.errors import invalid
from paas.api.app import daemon_of
from paas.builds.pipelines import PipelineService

router = APIRouter()


def service(request: Request) -> PipelineService:
    return PipelineService(daemon_of(request))


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
async def create_pipeline(request: Request, body: PipelineCreate) -> dict[str, Any]:
    return service(request).create(body.name)


@router.get("/pipelines")
async def list_pipelines(request: Request) -> list[dict[str, Any]]:
    return service(request).list_pipelines()


@router.get("/pipelines/{pipeline}")
async def get_pipeline(request: Request, pipeline: str) -> dict[str, Any]:
    return service(request).get(pipeline)


@router.delete("/pipelines/{pipeline}")
async def destroy_pipeline(request: Request, pipeline: str) -> dict[str, Any]:
    return service(request).destroy(pipeline)


@router.get("/pipelines/{pipeline}/pipeline-couplings")
async def pipeline_couplings(request: Request, pipeline: str) -> list[dict[str, Any]]:
    return service(request).couplings(pipeline)


@router.post("/pipeline-couplings", status_code=201)
async def create_coupling(request: Request, body: CouplingCreate) -> dict[str, Any]:
    return service(request).couple(body.pipeline, body.app, body.stage)


@router.get("/apps/{app}/pipeline-couplings")
async def app_coupling(request: Request, app: str) -> dict[str, Any]:
    return service(request).app_coupling(app)


@router.patch("/apps/{app}/pipeline-couplings")
async def update_coupling(request: Request, app: str, body: CouplingUpdate) -> dict[str, Any]:
    return service(request).update_coupling(app, body.stage)


@router.delete("/apps/{app}/pipeline-couplings")
async def remove_coupling(request: Request, app: str) -> dict[str, Any]:
    return service(request).uncouple(app)


@router.post("/pipeline-promotions", status_code=201)
async def promote(request: Request, body: PromotionCreate) -> dict[str, Any]:
    targets = [t.app.ident() for t in body.targets] if body.targets else None
    return await service(request).promote(body.source.app.ident(), targets)
