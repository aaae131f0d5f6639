"""Review apps: a pipeline with review apps enabled turns a push of a non-main branch into an
app of its own, `<pipeline>-<branch>`, coupled in the pipeline's `review` stage.

Heroku makes one per pull request of the pipeline's GitHub repository; here a branch pushed to
any (non-review) app of the pipeline plays the pull request. The first push sets the app up from
the branch's `app.json` with `environments.review` over the base (config, add-ons, formation,
`postdeploy`) through the app-setup path; later pushes of the branch build and release it again
(postdeploy is not rerun, as on Heroku); deleting the branch (`git push paas :branch`, the closed
pull request) or `reviewapps:destroy` runs `scripts.pr-predestroy` and destroys it; with
`--autodestroy` one without a deploy for `PAAS_REVIEW_APP_STALE` seconds is destroyed too.

Crash safety: the review app's row is committed (`creating`) before its app exists and goes
`deleting` before its app is destroyed; the next start finishes any such row by destroying
what exists of its app (add-ons included: a half-made add-on is first rolled back by the add-on
service). The next push of the branch then creates the review app anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.crashpoints import crash_point
from common.errors import PaasError, invalid
from common.events import Event
from paas.addons.service import AddonService
from paas.builds.appsetup import (
    AppSetups,
    Manifest,
    Setup,
    for_environment,
    parse_manifest,
    read_manifest_file,
)
from paas.builds.pipelines import PipelineInfo, PipelineService
from paas.builds.service import BuildOutput, BuildService
from paas.control import APP_NAME, ControlPlane
from paas.control.locks import KeyedLocks
from paas.control.releases import ReleasePath
from paas.state.models import App, Pipeline, ReviewApp, ReviewAppConfig, utcnow

ZERO = "0" * 40
DEPLOY_BRANCHES = ("main", "master")
MAX_NAME = 30  # app names are at most 30 characters
MAX_BRANCH = 255
PREDESTROY_TIMEOUT = 600.0
# Heroku injects these into a review app when its app.json declares them (as required) in `env`
INJECTED = ("HEROKU_APP_NAME", "HEROKU_PARENT_APP_NAME", "HEROKU_BRANCH")

Destroyer = Callable[[str], Awaitable[object]]  # destroys an app by name (the teardown's door)


def review_app_name(pipeline: str, branch: str, taken: Callable[[str], bool]) -> str:
    """`<pipeline>-<branch>` made a valid app name; when that is too long, not valid or taken,
    a shortened form with a hash of the branch name (stable, so a branch keeps its name)."""
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")
    plain = f"{pipeline}-{slug}" if slug else pipeline
    if slug and len(plain) <= MAX_NAME and APP_NAME.fullmatch(plain) and not taken(plain):
        return plain
    digest = hashlib.sha256(branch.encode()).hexdigest()
    for width in (4, 6, 8, 12):
        head = plain[: MAX_NAME - width - 1].rstrip("-")
        name = f"{head}-{digest[:width]}"
        if APP_NAME.fullmatch(name) and not taken(name):
            return name
    raise invalid(f"No free app name for a review app of branch {branch} in pipeline {pipeline}.")


def branch_of(ref: str) -> str:
    if not ref.startswith("refs/heads/") or len(ref) <= len("refs/heads/"):
        raise invalid(f"Only branches make review apps, not {ref}.")
    branch = ref.removeprefix("refs/heads/")
    if len(branch) > MAX_BRANCH:
        raise invalid(f"Branch names of review apps are at most {MAX_BRANCH} characters.")
    return branch


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReviewConfigInfo:
    pipeline_id: str
    pipeline: str
    automatic_review_apps: bool
    destroy_stale_apps: bool
    stale_after: float  # seconds without a deploy before an --autodestroy pipeline destroys one
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReviewAppInfo:
    id: str
    pipeline_id: str
    pipeline: str
    app: str
    branch: str
    status: str  # creating | created | errored | deleting | deleted
    commit: str | None
    message: str | None
    created_at: datetime
    deployed_at: datetime

    @classmethod
    def of(cls, row: ReviewApp, pipeline: Pipeline, status: str | None = None) -> ReviewAppInfo:
        return cls(
            row.id,
            pipeline.id,
            pipeline.name,
            row.app_name,
            row.branch,
            status or row.status,
            row.commit,
            row.message,
            _aware(row.created_at),
            _aware(row.deployed_at),
        )


@dataclass
class BranchPush:
    """What a push of a non-main branch started: its output, and where its outcome is read
    (`status_path`, an API path whose JSON has `status`) or the outcome when already known."""

    app: str
    output: BuildOutput
    status_path: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class PushedCommit:
    parent: str  # the app the branch was pushed to
    branch: str
    commit: str  # 40 zeros: the branch is being deleted
    source: Path | None  # the commit's tree, exported (None for a deletion)


def done(app: str, lines: list[str], status: str = "succeeded") -> BranchPush:
    out = BuildOutput()
    for line in lines:
        out.write(line)
    out.finish()
    return BranchPush(app, out, status=status)


class ReviewApps:
    def __init__(
        self,
        control: ControlPlane,
        pipelines: PipelineService,
        addons: AddonService,
        builds: BuildService,
        setups: AppSetups,
        releases: ReleasePath,
        destroy_app: Destroyer,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.control = control
        self.store = control.store
        self.pipelines = pipelines
        self.addons = addons
        self.builds = builds
        self.setups = setups
        self.releases = releases
        self.destroy_app = destroy_app
        self.report_error = report_error
        self.stale_after = control.settings.review_app_stale
        self._locks = KeyedLocks()  # one change at a time per (pipeline, branch)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    # ---- review-app config -------------------------------------------------------------------
    def _pipeline(self, s: Session, ident: str) -> Pipeline:
        info = self.pipelines.get(ident)
        row = s.get(Pipeline, info.id)
        assert row is not None
        return row

    def _config_info(self, c: ReviewAppConfig, p: Pipeline) -> ReviewConfigInfo:
        return ReviewConfigInfo(
            p.id,
            p.name,
            c.automatic_review_apps,
            c.destroy_stale_apps,
            self.stale_after,
            _aware(c.created_at),
            _aware(c.updated_at),
        )

    def configure(
        self, pipeline: str, automatic: bool | None = None, destroy_stale: bool | None = None
    ) -> ReviewConfigInfo:
        """Enable review apps on the pipeline, or change the given settings (None: unchanged)."""
        with self.store.session() as s:
            p = self._pipeline(s, pipeline)
            config = s.get(ReviewAppConfig, p.id)
            if config is None:
                config = ReviewAppConfig(
                    pipeline_id=p.id, automatic_review_apps=False, destroy_stale_apps=False
                )
                s.add(config)
            if automatic is not None:
                config.automatic_review_apps = automatic
            if destroy_stale is not None:
                config.destroy_stale_apps = destroy_stale
            s.flush()
            return self._config_info(config, p)

    def config(self, pipeline: str) -> ReviewConfigInfo:
        with self.store.session() as s:
            p = self._pipeline(s, pipeline)
            config = s.get(ReviewAppConfig, p.id)
            if config is None:
                raise PaasError(404, "not_found", f"Review apps are not enabled on pipeline {p.name}.")
            return self._config_info(config, p)

    async def disable(self, pipeline: str) -> ReviewConfigInfo:
        """Review apps off: the pipeline's review apps are destroyed (as Heroku does)."""
        info = self.config(pipeline)
        await self.forget_pipeline(pipeline)
        return info

    async def forget_pipeline(self, pipeline: str) -> None:
        """The pipeline's review apps are destroyed and its review-app config goes (disable, or
        the pipeline itself is destroyed)."""
        for review in self.list_apps(pipeline):
            await self.destroy(review.app)
        with self.store.session() as s:
            row = s.get(ReviewAppConfig, self._pipeline(s, pipeline).id)
            if row is not None:
                s.delete(row)

    # ---- review apps ------------------------------------------------------------------------------
    def list_apps(self, pipeline: str | None = None) -> list[ReviewAppInfo]:
        with self.store.session() as s:
            query = select(ReviewApp, Pipeline).join(Pipeline, Pipeline.id == ReviewApp.pipeline_id)
            if pipeline is not None:
                query = query.where(ReviewApp.pipeline_id == self._pipeline(s, pipeline).id)
            rows = s.execute(query.order_by(Pipeline.name, ReviewApp.created_at))
            return [ReviewAppInfo.of(r, p) for r, p in rows]

    def find(self, ident: str, pipeline: str | None = None) -> ReviewAppInfo:
        """A review app by id, app name, or (with its pipeline) branch."""
        for review in self.list_apps(pipeline):
            if ident in (review.id, review.app) or (pipeline is not None and ident == review.branch):
                return review
        where = f" in pipeline {pipeline}" if pipeline else " (to name one by its branch, give its pipeline)"
        raise PaasError(404, "not_found", f"Couldn't find a review app {ident}{where}.")

    def _taken(self, name: str) -> bool:
        with self.store.session() as s:
            app = s.scalar(select(App.id).where(App.name == name))
            return (
                app is not None
                or s.scalar(select(ReviewApp.id).where(ReviewApp.app_name == name)) is not None
            )

    def _row(self, pipeline_id: str, branch: str) -> ReviewApp | None:
        with self.store.session() as s:
            return s.scalar(
                select(ReviewApp).where(ReviewApp.pipeline_id == pipeline_id, ReviewApp.branch == branch)
            )

    # ---- a push of a non-main branch ----------------------------------------------------------
    def target(self, parent: str, branch: str) -> tuple[PipelineInfo, ReviewConfigInfo]:
        """The pipeline whose review apps a push of `branch` to `parent` makes; a 422 saying why
        the push does not deploy otherwise."""
        name = self.control.get_app(parent).name
        refusal = [
            f"Pushed to non-main branch ({branch}), skipping build.",
            "Only main (or master) deploys. To deploy another branch: git push paas <branch>:main",
        ]
        try:
            coupling = self.pipelines.app_coupling(name)
        except PaasError:
            raise invalid("\n".join(refusal)) from None
        if coupling.stage == "review":
            raise invalid("\n".join([*refusal, f"{name} is a review app: push branches to its parent app."]))
        try:
            config = self.config(coupling.pipeline_id)
        except PaasError:
            hint = f"To make review apps of branches: paas pipelines:review-apps:enable --autodeploy -p {coupling.pipeline}"
            raise invalid("\n".join([*refusal, hint])) from None
        return self.pipelines.get(coupling.pipeline_id), config

    async def push(self, pushed: PushedCommit) -> BranchPush:
        """Create, update or (a deleted branch) destroy the branch's review app. Owns
        `pushed.source` from here: it is removed once nothing needs it."""
        try:
            pipeline, config = self.target(pushed.parent, pushed.branch)
            async with self._locks.hold(f"{pipeline.id}:{pushed.branch}"):
                return await self._push(pipeline, config, pushed)
        except BaseException:
            if pushed.source is not None:
                shutil.rmtree(pushed.source, ignore_errors=True)
            raise

    async def _push(
        self, pipeline: PipelineInfo, config: ReviewConfigInfo, pushed: PushedCommit
    ) -> BranchPush:
        row = self._row(pipeline.id, pushed.branch)
        if pushed.commit == ZERO or pushed.source is None:
            return await self._branch_deleted(pipeline, pushed, row)
        if row is not None and row.status in ("creating", "deleting"):
            raise PaasError(
                409, "conflict", f"Review app {row.app_name} is {row.status}; push again once it is done."
            )
        if row is not None and row.status == "created" and self._exists(row.app_name):
            return self._update(row.app_name, pushed.commit, pushed.source)
        if row is None and not config.automatic_review_apps:
            return self._not_automatic(pipeline, pushed)
        if row is not None:  # errored, or its app went: made anew, as Heroku recreates it
            await self._remove(row.app_name)
        return await self._create(pipeline, pushed, pushed.source)

    def _exists(self, app: str) -> bool:
        with self.store.session() as s:
            return s.scalar(select(App.id).where(App.name == app, App.destroying.is_(False))) is not None

    def _not_automatic(self, pipeline: PipelineInfo, pushed: PushedCommit) -> BranchPush:
        assert pushed.source is not None
        shutil.rmtree(pushed.source, ignore_errors=True)
        return done(
            pushed.parent,
            [
                f"Branch {pushed.branch} pushed; no review app made: automatic review apps are off "
                f"in pipeline {pipeline.name}.",
                f"Turn them on with: paas pipelines:review-apps:enable --autodeploy -p {pipeline.name}",
            ],
        )

    async def _branch_deleted(
        self, pipeline: PipelineInfo, pushed: PushedCommit, row: ReviewApp | None
    ) -> BranchPush:
        """The pull request is closed: its review app goes (its pr-predestroy runs first)."""
        if row is None:
            return done(pushed.parent, [f"Branch {pushed.branch} deleted (it had no review app)."])
        out = BuildOutput()
        await self._destroy_row(row.id, out.write)
        out.finish()
        return BranchPush(row.app_name, out, status="succeeded")

    # ---- create -------------------------------------------------------------------------------
    async def _create(self, pipeline: PipelineInfo, pushed: PushedCommit, source: Path) -> BranchPush:
        raw = read_manifest_file(source)
        name = review_app_name(pipeline.name, pushed.branch, self._taken)
        injected = {
            "HEROKU_APP_NAME": name,
            "HEROKU_PARENT_APP_NAME": self.control.get_app(pushed.parent).name,
            "HEROKU_BRANCH": pushed.branch,
        }
        manifest, declared = self._manifest(raw, injected)
        row_id = self._insert(pipeline, name, pushed, manifest)
        made = False
        try:
            self.control.create_app(name)
            made = True
            self.pipelines.couple(pipeline.id, name, "review")
            crash_point("reviewapp.after_app")
            if declared:
                await self.releases.update_config(name, declared, by_addon=True)
        except BaseException:
            await self._undo(row_id, name if made else None)
            raise
        self.control.logs.api_line(name, f"Review app of branch {pushed.branch} in pipeline {pipeline.name}")

        async def finished(setup: Setup) -> None:
            await self._created(row_id, setup)

        setup = self.setups.begin(name, manifest, source, pushed.commit, raw is not None, on_finish=finished)
        setup.output.write(f"-----> Creating review app {name} for branch {pushed.branch}")
        return BranchPush(name, setup.output, status_path=f"/apps/{name}/app-setups/{setup.id}")

    def _manifest(self, raw: Any, injected: Mapping[str, str]) -> tuple[Manifest, dict[str, str]]:
        """The review environment's manifest, and the injected vars its `env` declares."""
        data = for_environment(raw if raw is not None else {}, "review")
        declared: dict[str, str] = {}
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            env = dict(data["env"])
            for key in INJECTED:
                if key in env:
                    del env[key]
                    declared[key] = injected[key]
            data = {**data, "env": env}
        return parse_manifest(data, {}, self.addons), declared

    def _insert(self, pipeline: PipelineInfo, name: str, pushed: PushedCommit, manifest: Manifest) -> str:
        with self.store.session() as s:
            row = ReviewApp(
                pipeline_id=pipeline.id,
                app_name=name,
                branch=pushed.branch,
                status="creating",
                commit=pushed.commit,
                predestroy=manifest.predestroy,
            )
            s.add(row)
            s.flush()
            return row.id

    async def _undo(self, row_id: str, app: str | None) -> None:
        if app is not None:
            await self.destroy_app(app)
        with self.store.session() as s:
            row = s.get(ReviewApp, row_id)
            if row is not None:
                s.delete(row)

    async def _created(self, row_id: str, setup: Setup) -> None:
        with self.store.session() as s:
            row = s.get(ReviewApp, row_id)
            if row is None:
                return
            row.status = "created" if setup.status == "succeeded" else "errored"
            row.message = setup.failure_message
            row.deployed_at = utcnow()
        if setup.status == "succeeded":
            setup.output.write(f"-----> Review app {setup.app} is up: {self.control.urls.web_url(setup.app)}")
        else:
            setup.output.write(
                f" !     Review app {setup.app} errored; the next push of its branch makes it anew."
            )

    # ---- update -------------------------------------------------------------------------------
    def _update(self, app: str, commit: str, source: Path) -> BranchPush:
        """A new build and release of the review app (no postdeploy: that ran once, at creation)."""
        predestroy = self._predestroy_of(source)
        build = self.builds.start_build(app, None, commit, kind="git", source_dir=source)
        output = self.builds.output(build.id) or done(app, []).output

        async def follow() -> None:
            try:
                await self.builds.wait(build.id)
                if self.builds.get(app, build.id).status == "succeeded":
                    self._deployed(app, commit, predestroy)
            finally:
                await asyncio.to_thread(shutil.rmtree, source, True)

        self._spawn(follow())
        return BranchPush(app, output, status_path=f"/apps/{app}/builds/{build.id}")

    def _predestroy_of(self, source: Path) -> str | None:
        try:
            manifest, _ = self._manifest(read_manifest_file(source), dict.fromkeys(INJECTED, ""))
        except PaasError:
            return None  # a broken app.json fails nothing here: the build says what it needs
        return manifest.predestroy

    def _deployed(self, app: str, commit: str, predestroy: str | None) -> None:
        with self.store.session() as s:
            row = s.scalar(select(ReviewApp).where(ReviewApp.app_name == app))
            if row is not None:
                row.commit, row.predestroy, row.deployed_at = commit, predestroy, utcnow()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:
                self.report_error(exc)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- destroy ------------------------------------------------------------------------------
    async def destroy(
        self, ident: str, pipeline: str | None = None, say: Callable[[str], None] | None = None
    ) -> ReviewAppInfo:
        """`reviewapps:destroy`: pr-predestroy in a one-off dyno, then the app and its add-ons go."""
        review = self.find(ident, pipeline)
        async with self._locks.hold(f"{review.pipeline_id}:{review.branch}"):
            await self._destroy_row(review.id, say or (lambda _line: None))
        return replace(review, status="deleted")

    async def _destroy_row(self, row_id: str, say: Callable[[str], None]) -> None:
        with self.store.session() as s:
            row = s.get(ReviewApp, row_id)
            if row is None:
                return
            row.status = "deleting"
            app, predestroy = row.app_name, row.predestroy
        if predestroy:
            await self._predestroy(app, predestroy, say)
        say(f"-----> Destroying review app {app}")
        await self._remove(app)
        say(f"       Review app {app} destroyed")

    async def _predestroy(self, app: str, command: str, say: Callable[[str], None]) -> None:
        current = self.store.current_release_info(app) if self._exists(app) else None
        if current is None or current.slug_id is None:
            return
        say(f"-----> Running pr-predestroy script: {command}")
        status, lines = await self.releases.run_command(
            app, current.version, command, dyno_type="run", timeout=PREDESTROY_TIMEOUT
        )
        for line in lines:
            say(f"       {line}")
        if status != 0:  # as on Heroku, a failing script does not keep the app
            say(f" !     The pr-predestroy script exited with status {status}; destroying anyway.")

    async def _remove(self, app: str) -> None:
        """The app (if it exists) and then the row go."""
        if self._exists(app):
            await self.destroy_app(app)
        with self.store.session() as s:
            for row in s.scalars(select(ReviewApp).where(ReviewApp.app_name == app)):
                s.delete(row)

    def _forget(self, event: Event) -> None:
        """An app destroyed by other means (apps:destroy) takes its review app's row along,
        unless that review app is in the middle of a change (which ends with the row)."""
        with self.store.session() as s:
            for row in s.scalars(select(ReviewApp).where(ReviewApp.app_name == event.app)):
                if row.status in ("created", "errored"):
                    s.delete(row)

    # ---- stale review apps ---------------------------------------------------------------------
    def stale(self, now: datetime | None = None) -> list[ReviewAppInfo]:
        """Review apps of --autodestroy pipelines without a deploy for `stale_after` seconds."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.stale_after)
        with self.store.session() as s:
            rows = s.execute(
                select(ReviewApp, Pipeline)
                .join(Pipeline, Pipeline.id == ReviewApp.pipeline_id)
                .join(ReviewAppConfig, ReviewAppConfig.pipeline_id == ReviewApp.pipeline_id)
                .where(
                    ReviewAppConfig.destroy_stale_apps.is_(True), ReviewApp.status.in_(("created", "errored"))
                )
            )
            found = [ReviewAppInfo.of(r, p) for r, p in rows]
        return [r for r in found if r.deployed_at <= cutoff]

    async def destroy_stale(self) -> list[str]:
        gone = []
        for review in self.stale():
            if await self._destroy_if_stale(review):
                gone.append(review.app)
        return gone

    async def _destroy_if_stale(self, review: ReviewAppInfo) -> bool:
        """Under the branch's lock: a push that got there first makes it fresh again."""
        async with self._locks.hold(f"{review.pipeline_id}:{review.branch}"):
            if review.id not in {r.id for r in self.stale()}:
                return False
            days = self.stale_after / 86400
            self.control.logs.api_line(
                review.app, f"Review app idle for {days:g} days (no deploy): destroying it"
            )
            await self._destroy_row(review.id, lambda _line: None)
        return True

    async def _sweep(self) -> None:
        # often enough to keep the promise within a fraction of the stale time; never faster than 1 s
        interval = min(max(self.stale_after / 10, 1.0), 60.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.destroy_stale()
            except Exception as exc:
                self.report_error(exc)

    def start(self) -> None:
        self._unlisten = self.control.bus.listen(["app.destroyed"], self._forget)
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # ---- after a crash ---------------------------------------------------------------------------
    async def resolve_interrupted(self) -> int:
        """At start: a review app a dead daemon left `creating` or `deleting` is destroyed (what
        exists of it) and its row goes; the next push of its branch makes it anew."""
        with self.store.session() as s:
            names = list(
                s.scalars(select(ReviewApp.app_name).where(ReviewApp.status.in_(("creating", "deleting"))))
            )
        for name in names:
            try:
                await self._remove(name)
            except Exception as exc:  # the next start tries again
                self.report_error(exc)
        return len(names)
