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
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import PaasError, invalid, not_found
from paas.control import ControlPlane
from paas.control.releases import ReleasePath
from paas.control.values import ReleaseInfo, SlugInfo
from paas.state.models import App, Pipeline, PipelineCoupling

STAGES = ("review", "development", "staging", "production")
PIPELINE_NAME = re.compile(r"[a-z][a-z0-9-]{1,58}[a-z0-9]")
_SUFFIXES = (
    (re.compile(r"-(dev|development|uat|tst|test|qa)\Z"), "development"),
    (re.compile(r"-(stg|staging)\Z"), "staging"),
    (re.compile(r"-(prd|prod|production|admin|demo)\Z"), "production"),
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
class PipelineInfo:
    id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, p: Pipeline) -> PipelineInfo:
        return cls(p.id, p.name, p.created_at)


@dataclass(frozen=True)
class CouplingInfo:
    id: str
    stage: str
    app_id: str
    app: str
    pipeline_id: str
    pipeline: str

    @classmethod
    def of(cls, c: PipelineCoupling, app: App, pipeline: Pipeline) -> CouplingInfo:
        return cls(c.id, c.stage, app.id, app.name, pipeline.id, pipeline.name)


@dataclass(frozen=True)
class PromotionTarget:
    app: str
    status: str  # succeeded | failed
    release: ReleaseInfo | None
    error_message: str | None = None
    app_id: str = ""


@dataclass(frozen=True)
class Promotion:
    id: str
    source: CouplingInfo  # the source app and its pipeline
    version: int
    slug_id: str
    targets: tuple[PromotionTarget, ...]
    release_id: str = ""  # the source release promoted
    created_at: datetime | None = None

    @property
    def status(self) -> str:
        return "completed" if all(t.status == "succeeded" for t in self.targets) else "failed"


RECENT_PROMOTIONS = 100  # promotions whose targets can be read back


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise invalid(f"Stage must be one of {', '.join(STAGES)}, not {stage!r}.")
    return stage


class PipelineService:
    def __init__(self, control: ControlPlane, releases: ReleasePath):
        self.control = control
        self.releases = releases
        self.slugs_dir = control.settings.slugs_dir
        self.recent: OrderedDict[str, Promotion] = OrderedDict()

    # ---- pipelines ------------------------------------------------------------------------
    def _pipeline(self, s: Session, ident: str) -> Pipeline:
        row = s.scalar(select(Pipeline).where((Pipeline.name == ident) | (Pipeline.id == ident)))
        if row is None:
            raise not_found("pipeline")
        return row

    def create(self, name: str) -> PipelineInfo:
        if not PIPELINE_NAME.fullmatch(name):
            raise invalid(
                "Pipeline names are 3 to 60 lowercase letters, digits and dashes, starting with a letter."
            )
        with self.control.store.session() as s:
            if s.scalar(select(Pipeline.id).where(Pipeline.name == name)) is not None:
                raise invalid(f"Name {name} is already taken by another pipeline.")
            row = Pipeline(name=name)
            s.add(row)
            s.flush()
            return PipelineInfo.of(row)

    def list_pipelines(self) -> list[PipelineInfo]:
        with self.control.store.session() as s:
            return [PipelineInfo.of(p) for p in s.scalars(select(Pipeline).order_by(Pipeline.name))]

    def get(self, ident: str) -> PipelineInfo:
        with self.control.store.session() as s:
            return PipelineInfo.of(self._pipeline(s, ident))

    def destroy(self, ident: str) -> PipelineInfo:
        with self.control.store.session() as s:
            row = self._pipeline(s, ident)
            data = PipelineInfo.of(row)
            for coupling in s.scalars(select(PipelineCoupling).where(PipelineCoupling.pipeline_id == row.id)):
                s.delete(coupling)
            s.flush()
            s.delete(row)
        return data

    # ---- couplings ------------------------------------------------------------------------
    def couple(self, pipeline: str, app: str, stage: str | None) -> CouplingInfo:
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
            return CouplingInfo.of(row, app_row, p)

    def couplings(self, pipeline: str) -> list[CouplingInfo]:
        with self.control.store.session() as s:
            p = self._pipeline(s, pipeline)
            rows = s.execute(
                select(PipelineCoupling, App)
                .join(App, App.id == PipelineCoupling.app_id)
                .where(PipelineCoupling.pipeline_id == p.id)
                .order_by(App.name)
            )
            out = [CouplingInfo.of(c, a, p) for c, a in rows]
        return sorted(out, key=lambda c: (STAGES.index(c.stage), c.app))

    def app_coupling(self, app: str) -> CouplingInfo:
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            c = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app_row.id))
            if c is None:
                raise PaasError(404, "not_found", f"{app_row.name} is not in a pipeline.")
            p = s.get(Pipeline, c.pipeline_id)
            assert p is not None
            return CouplingInfo.of(c, app_row, p)

    def update_coupling(self, app: str, stage: str) -> CouplingInfo:
        _check_stage(stage)
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            c = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app_row.id))
            if c is None:
                raise PaasError(404, "not_found", f"{app_row.name} is not in a pipeline.")
            c.stage = stage
            p = s.get(Pipeline, c.pipeline_id)
            assert p is not None
            return CouplingInfo.of(c, app_row, p)

    def uncouple(self, app: str) -> CouplingInfo:
        data = self.app_coupling(app)
        with self.control.store.session() as s:
            row = s.get(PipelineCoupling, data.id)
            if row is not None:
                s.delete(row)
        return data

    # ---- promotion ------------------------------------------------------------------------
    def _targets(self, coupling: CouplingInfo, targets: list[str] | None) -> list[str]:
        if targets:
            names = []
            for target in targets:
                target_coupling = self.app_coupling(target)
                if target_coupling.pipeline_id != coupling.pipeline_id:
                    raise invalid(f"{target} is not in pipeline {coupling.pipeline}.")
                if target_coupling.app == coupling.app:
                    raise invalid("An app can't be promoted to itself.")
                names.append(target_coupling.app)
            return names
        stage = next_stage(coupling.stage)
        if stage is None:
            raise invalid(
                f"{coupling.app} is in the last stage ({coupling.stage}): there is nothing downstream to promote to."
            )
        names = [c.app for c in self.couplings(coupling.pipeline_id) if c.stage == stage]
        if not names:
            raise invalid(f"Pipeline {coupling.pipeline} has no {stage} app to promote to.")
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
        source_name = coupling.app
        description = f"Promote {source_name} v{release.version}" + (
            f" {slug.commit[:8]}" if slug.commit else ""
        )
        results = []
        for name in names:
            app_id = self.control.get_app(name).id
            try:
                made = await self._promote_to(name, slug, description)
            except PaasError as exc:
                results.append(PromotionTarget(name, "failed", None, exc.message, app_id))
                continue
            ok = made.status == "succeeded"
            results.append(
                PromotionTarget(
                    name,
                    made.status if ok else "failed",
                    made,
                    None if ok else "release phase failed",
                    app_id,
                )
            )
        promotion = Promotion(
            id=str(uuid.uuid4()),
            source=coupling,
            version=release.version,
            slug_id=slug.id,
            targets=tuple(results),
            release_id=release.id,
            created_at=datetime.now(UTC),
        )
        # kept (bounded) so a client can read its targets back, as Heroku's CLI polls them
        self.recent[promotion.id] = promotion
        while len(self.recent) > RECENT_PROMOTIONS:
            self.recent.popitem(last=False)
        return promotion

    def promotion(self, promotion_id: str) -> Promotion:
        found = self.recent.get(promotion_id)
        if found is None:
            raise not_found("pipeline promotion")
        return found

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
