"""Pipelines: apps coupled to stages (review → development → staging → production), and
promotion, which copies the source app's current slug to the next stage's apps (no rebuild).

Each target gets its own copy of the slug (hard links, so it is cheap): a slug belongs to one
app, and destroying the source app must not take the promoted release's files with it. The
target keeps its own config vars; its new release runs its release phase like any other.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import PaasError, invalid, not_found
from paas.control import ControlPlane, iso
from paas.control.releases import ReleasePath
from paas.control.values import ReleaseInfo, SlugInfo
from paas.state.models import App, Pipeline, PipelineCoupling

STAGES = ("review", "development", "staging", "production")
PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,58}[a-z0-9]$")
_SUFFIXES = (
    (re.compile(r"-(dev|development|uat|tst|test|qa)$"), "development"),
    (re.compile(r"-(stg|staging)$"), "staging"),
    (re.compile(r"-(prd|prod|production|admin|demo)$"), "production"),
)


def infer_stage(app_name: str) -> str | None:
    """Heroku's guess from the app name's suffix (`-staging`, `-prod`, ...)."""
    for pattern, stage in _SUFFIXES:
        if pattern.search(app_name):
            return stage
    return None


def next_stage(stage: str) -> str | None:
    if stage == "review":
        return "staging"  # review apps promote straight to staging, as on Heroku
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


@dataclass(frozen=True)
class PromotionTarget:
    app: str
    status: str  # succeeded | failed
    release: ReleaseInfo | None
    error_message: str | None = None


@dataclass(frozen=True)
class Promotion:
    id: str
    pipeline: dict[str, Any]  # {id, name}
    source_app: dict[str, Any]  # {id, name}
    version: int
    slug_id: str
    targets: tuple[PromotionTarget, ...]

    @property
    def status(self) -> str:
        return "completed" if all(t.status == "succeeded" for t in self.targets) else "failed"


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise invalid(f"Stage must be one of {', '.join(STAGES)}, not {stage!r}.")
    return stage


class PipelineService:
    def __init__(self, control: ControlPlane, releases: ReleasePath):
        self.control = control
        self.releases = releases
        self.slugs_dir = control.settings.slugs_dir

    # ---- pipelines ------------------------------------------------------------------------
    def _pipeline(self, s: Session, ident: str) -> Pipeline:
        row = s.scalar(select(Pipeline).where((Pipeline.name == ident) | (Pipeline.id == ident)))
        if row is None:
            raise not_found("pipeline")
        return row

    @staticmethod
    def pipeline_json(p: Pipeline) -> dict[str, Any]:
        return {"id": p.id, "name": p.name, "created_at": iso(p.created_at)}

    def create(self, name: str) -> dict[str, Any]:
        if not PIPELINE_NAME.match(name):
            raise invalid(
                "Pipeline names are 3 to 60 lowercase letters, digits and dashes, starting with a letter."
            )
        with self.control.store.session() as s:
            if s.scalar(select(Pipeline.id).where(Pipeline.name == name)) is not None:
                raise invalid(f"Name {name} is already taken by another pipeline.")
            row = Pipeline(name=name)
            s.add(row)
            s.flush()
            return self.pipeline_json(row)

    def list_pipelines(self) -> list[dict[str, Any]]:
        with self.control.store.session() as s:
            return [self.pipeline_json(p) for p in s.scalars(select(Pipeline).order_by(Pipeline.name))]

    def get(self, ident: str) -> dict[str, Any]:
        with self.control.store.session() as s:
            return self.pipeline_json(self._pipeline(s, ident))

    def destroy(self, ident: str) -> dict[str, Any]:
        with self.control.store.session() as s:
            row = self._pipeline(s, ident)
            data = self.pipeline_json(row)
            for coupling in s.scalars(select(PipelineCoupling).where(PipelineCoupling.pipeline_id == row.id)):
                s.delete(coupling)
            s.flush()
            s.delete(row)
        return data

    # ---- couplings ------------------------------------------------------------------------
    @staticmethod
    def coupling_json(c: PipelineCoupling, app: App, pipeline: Pipeline) -> dict[str, Any]:
        return {
            "id": c.id,
            "stage": c.stage,
            "app": {"id": app.id, "name": app.name},
            "pipeline": {"id": pipeline.id, "name": pipeline.name},
        }

    def couple(self, pipeline: str, app: str, stage: str | None) -> dict[str, Any]:
        with self.control.store.session() as s:
            p = self._pipeline(s, pipeline)
            app_row = self.control.store.app(s, app)
            stage = stage or infer_stage(app_row.name)
            if stage is None:
                raise invalid(
                    f"Could not infer a stage from the name {app_row.name}; pass --stage "
                    f"({', '.join(STAGES)})."
                )
            _check_stage(stage)
            existing = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app_row.id))
            if existing is not None:
                other = s.get(Pipeline, existing.pipeline_id)
                raise invalid(
                    f"{app_row.name} is already in pipeline {other.name if other else '?'}; "
                    "remove it first (pipelines:remove)."
                )
            row = PipelineCoupling(pipeline_id=p.id, app_id=app_row.id, stage=stage)
            s.add(row)
            s.flush()
            return self.coupling_json(row, app_row, p)

    def couplings(self, pipeline: str) -> list[dict[str, Any]]:
        with self.control.store.session() as s:
            p = self._pipeline(s, pipeline)
            rows = s.execute(
                select(PipelineCoupling, App)
                .join(App, App.id == PipelineCoupling.app_id)
                .where(PipelineCoupling.pipeline_id == p.id)
                .order_by(App.name)
            )
            out = [self.coupling_json(c, a, p) for c, a in rows]
        return sorted(out, key=lambda c: (STAGES.index(c["stage"]), c["app"]["name"]))

    def app_coupling(self, app: str) -> dict[str, Any]:
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            c = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app_row.id))
            if c is None:
                raise PaasError(404, "not_found", f"{app_row.name} is not in a pipeline.")
            p = s.get(Pipeline, c.pipeline_id)
            assert p is not None
            return self.coupling_json(c, app_row, p)

    def update_coupling(self, app: str, stage: str) -> dict[str, Any]:
        _check_stage(stage)
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            c = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app_row.id))
            if c is None:
                raise PaasError(404, "not_found", f"{app_row.name} is not in a pipeline.")
            c.stage = stage
            p = s.get(Pipeline, c.pipeline_id)
            assert p is not None
            return self.coupling_json(c, app_row, p)

    def uncouple(self, app: str) -> dict[str, Any]:
        data = self.app_coupling(app)
        with self.control.store.session() as s:
            row = s.get(PipelineCoupling, data["id"])
            if row is not None:
                s.delete(row)
        return data

    # ---- promotion ------------------------------------------------------------------------
    def _targets(self, coupling: dict[str, Any], targets: list[str] | None) -> list[str]:
        if targets:
            names = []
            for target in targets:
                target_coupling = self.app_coupling(target)
                if target_coupling["pipeline"]["id"] != coupling["pipeline"]["id"]:
                    raise invalid(f"{target} is not in pipeline {coupling['pipeline']['name']}.")
                if target_coupling["app"]["name"] == coupling["app"]["name"]:
                    raise invalid("An app can't be promoted to itself.")
                names.append(target_coupling["app"]["name"])
            return names
        stage = next_stage(coupling["stage"])
        if stage is None:
            raise invalid(
                f"{coupling['app']['name']} is in the last stage ({coupling['stage']}): "
                "there is nothing downstream to promote to."
            )
        names = [c["app"]["name"] for c in self.couplings(coupling["pipeline"]["id"]) if c["stage"] == stage]
        if not names:
            raise invalid(f"Pipeline {coupling['pipeline']['name']} has no {stage} app to promote to.")
        return names

    def _source_release(self, app: str) -> tuple[ReleaseInfo, SlugInfo]:
        release = self.control.store.current_release_info(app)
        slug = self.control.current_slug(app)
        if release is None or slug is None:
            raise invalid(f"{self.control.get_app(app).name} has no release to promote: deploy it first.")
        return release, slug

    async def promote(self, source: str, targets: list[str] | None = None) -> Promotion:
        coupling = self.app_coupling(source)
        release, slug = self._source_release(source)
        names = self._targets(coupling, targets)
        source_name = coupling["app"]["name"]
        description = f"Promote {source_name} v{release.version}" + (
            f" {slug.commit[:8]}" if slug.commit else ""
        )
        results = []
        for name in names:
            try:
                made = await self._promote_to(name, slug, description)
            except PaasError as exc:
                results.append(PromotionTarget(name, "failed", None, exc.message))
                continue
            ok = made.status == "succeeded"
            results.append(
                PromotionTarget(
                    name, made.status if ok else "failed", made, None if ok else "release phase failed"
                )
            )
        return Promotion(
            id=str(uuid.uuid4()),
            pipeline=coupling["pipeline"],
            source_app=coupling["app"],
            version=release.version,
            slug_id=slug.id,
            targets=tuple(results),
        )

    async def _promote_to(self, target: str, slug: SlugInfo, description: str) -> ReleaseInfo:
        dest = self.slugs_dir / target / f"promoted-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(copy_slug, slug.path, dest)
        try:
            copy = self.control.create_slug(
                target,
                dest,
                slug.process_types,
                commit=slug.commit,
                size=slug.size,
                buildpack=slug.buildpack,
                docker_image=slug.docker_image,
            )
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return await self.releases.release_slug(target, copy.id, description)


def copy_slug(source: Path, dest: Path) -> None:
    if not source.is_dir():
        raise invalid("The source app's slug is missing on disk; deploy it again before promoting.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["cp", "-al", "--", str(source), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        result = subprocess.run(["cp", "-a", "--", str(source), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise PaasError(500, "promotion_failed", f"Could not copy the slug: {result.stderr.strip()}")
