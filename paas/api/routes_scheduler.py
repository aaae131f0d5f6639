"""Heroku Scheduler jobs behind `scheduler:*`. Heroku has no public Platform API for them (its
dashboard talks to the add-on's own service), so the paths are ours, under the app:
`/apps/{app}/scheduler/jobs[/{id}[/actions/run]]`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from paas.api.deps import Svc
from paas.control import iso
from paas.scheduler.service import MAX_COMMAND, JobChange, JobInfo

router = APIRouter()


class JobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str | None = Field(default=None, max_length=MAX_COMMAND)
    every: str | None = Field(default=None, max_length=40)
    at: str | None = Field(default=None, max_length=20)
    dyno_size: str | None = Field(default=None, max_length=40)

    def change(self) -> JobChange:
        return JobChange(self.command, self.every, self.at, self.dyno_size)


def job_json(job: JobInfo) -> dict[str, Any]:
    next_run = None if job.next_run_at is None else datetime.fromtimestamp(job.next_run_at, UTC)
    return {
        "id": job.id,
        "app": {"name": job.app},
        "command": job.command,
        "every": job.schedule.flag,
        "at": job.schedule.at_text(),
        "schedule": job.schedule.describe(),
        "dyno_size": job.dyno_size,
        "runs": job.runs,
        "last_run_at": iso(job.last_run_at),
        "last_dyno": job.last_dyno,
        "last_status": job.last_status,
        "last_outcome": job.last_outcome if job.last_run_at else None,
        "next_run_at": iso(next_run),
    }


@router.get("/apps/{app}/scheduler/jobs")
async def list_jobs(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [job_json(j) for j in svc.scheduler.list_jobs(app)]


@router.post("/apps/{app}/scheduler/jobs", status_code=201)
async def create_job(svc: Svc, app: str, body: JobBody) -> dict[str, Any]:
    return job_json(svc.scheduler.create_job(app, body.change()))


@router.patch("/apps/{app}/scheduler/jobs/{job_id}")
async def update_job(svc: Svc, app: str, job_id: str, body: JobBody) -> dict[str, Any]:
    return job_json(svc.scheduler.update_job(app, job_id, body.change()))


@router.delete("/apps/{app}/scheduler/jobs/{job_id}")
async def destroy_job(svc: Svc, app: str, job_id: str) -> dict[str, Any]:
    return job_json(svc.scheduler.destroy_job(app, job_id))


@router.post("/apps/{app}/scheduler/jobs/{job_id}/actions/run", status_code=201)
async def run_job(svc: Svc, app: str, job_id: str) -> dict[str, Any]:
    run = await svc.scheduler.run_now(app, job_id)
    return {"name": run.name, "command": run.command, "state": run.state, "type": "scheduler"}
