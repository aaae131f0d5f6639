"""Builds: source archive → compiled slug → release, with output streamed as it happens."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from common.errors import PaasError, invalid, not_found
from dynos.procfile import ProcfileError, read_procfile
from paas.builds.compile import BuildContext, BuildFailed, Compiler, choose_compiler, default_compilers
from paas.builds.source import SourceError, apply_slugignore, directory_size, extract_tarball
from paas.control import USER, ControlPlane, iso
from paas.control.releases import progress
from paas.control.values import ReleaseInfo
from paas.state.models import App, Build

MAX_OUTPUT_LINES = 20_000
KEEP_FINISHED_OUTPUTS = 50  # finished builds whose output stays in memory (the rest is in the database)
UPLOAD_LIMIT = 2 * 1024**3
INTERRUPTED = " !     The paas daemon stopped during this build."

# (app, slug_id, description) -> the release: the release path's deploy door
Releaser = Callable[[str, str, str], Awaitable[ReleaseInfo]]


def write_source_version(slug_dir: Path, version: str) -> None:
    if not slug_dir.is_dir() or not all(c.isalnum() or c in "-_." for c in version):
        return
    profile = slug_dir / ".profile.d"
    profile.mkdir(exist_ok=True)
    (profile / "000-source-version.sh").write_text(f'export SOURCE_VERSION="{version}"\n')


class BuildOutput:
    """Lines of one build, for live streaming to several readers. Bounded."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0
        self.done = False
        self._changed = asyncio.Event()

    def write(self, line: str) -> None:
        if len(self.lines) >= MAX_OUTPUT_LINES:
            self.dropped += 1
            return
        self.lines.append(line)
        self._changed.set()

    def finish(self) -> None:
        self.done = True
        self._changed.set()

    async def follow(self) -> AsyncIterator[str]:
        index = 0
        while True:
            while index < len(self.lines):
                yield self.lines[index]
                index += 1
            if self.done:
                return
            self._changed.clear()
            await self._changed.wait()


class BuildService:
    def __init__(self, control: ControlPlane, releaser: Releaser, compilers: list[Compiler] | None = None):
        self.control = control
        self.settings = control.settings
        self.releaser = releaser
        self.compilers = compilers if compilers is not None else default_compilers()
        self.outputs: dict[str, BuildOutput] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.sources_dir = self.settings.home / "sources"
        self._app_locks: dict[str, asyncio.Lock] = {}  # one build at a time per app, like Heroku

    def forget_app(self, app: str) -> None:
        """An app is destroyed: its git repository and build cache go with it."""
        from paas.builds.gitrepo import remove_repo

        remove_repo(self.settings.repos_dir, app)
        shutil.rmtree(self.settings.cache_dir / app, ignore_errors=True)
        self._app_locks.pop(app, None)

    # ---- sources --------------------------------------------------------------------------
    async def receive_source(self, chunks: AsyncIterator[bytes]) -> str:
        """Store an uploaded tarball; returns its source URL (`source:<id>`)."""
        self.sources_dir.mkdir(parents=True, exist_ok=True)
        source_id = str(uuid.uuid4())
        path = self.sources_dir / f"{source_id}.tar"
        size = 0
        with path.open("wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    f.close()
                    path.unlink(missing_ok=True)
                    raise PaasError(413, "request_entity_too_large", "Source archives are limited to 2 GB.")
                f.write(chunk)
        if size == 0:
            path.unlink(missing_ok=True)
            raise invalid("The uploaded source archive is empty.")
        return f"source:{source_id}"

    def source_path(self, url: str) -> Path:
        if url.startswith("source:"):
            path = self.sources_dir / f"{url[7:]}.tar"
        elif url.startswith("file://"):
            path = Path(url[7:])
        else:
            raise invalid("source_blob.url must be a source URL returned by POST /apps/{app}/sources.")
        if not path.exists():
            raise invalid("That source archive no longer exists; upload it again.")
        return path

    # ---- builds ---------------------------------------------------------------------------
    def build_json(self, b: Build, app_name: str) -> dict[str, Any]:
        return {
            "id": b.id,
            "app": {"name": app_name},
            "status": b.status,
            "source_blob": {"version": b.commit},
            "source": b.source,
            "buildpacks": [{"name": b.buildpack}] if b.buildpack else [],
            "slug": {"id": b.slug_id} if b.slug_id else None,
            "release": {"id": b.release_id} if b.release_id else None,
            "duration": b.duration,
            "output_stream_url": f"{self.control.urls.api}/apps/{app_name}/builds/{b.id}/output",
            "created_at": iso(b.created_at),
            "updated_at": iso(b.updated_at),
        }

    def list(self, app: str) -> list[dict[str, Any]]:
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            rows = s.scalars(select(Build).where(Build.app_id == app_row.id).order_by(Build.created_at))
            return [self.build_json(b, app_row.name) for b in rows]

    def get(self, app: str, build_id: str) -> dict[str, Any]:
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            b = s.get(Build, build_id)
            if b is None or b.app_id != app_row.id:
                raise not_found("build")
            data = self.build_json(b, app_row.name)
            if b.id not in self.outputs:
                data["output"] = b.output
            return data

    def start_build(
        self,
        app: str,
        source_url: str | None,
        version: str | None,
        kind: str = "directory",
        source_dir: Path | None = None,
    ) -> dict[str, Any]:
        """Start a build in the background; returns the pending build. Source: an uploaded
        archive (`source_url`) or a directory (`source_dir`, e.g. a git checkout)."""
        archive = self.source_path(source_url) if source_url else None
        if archive is None and source_dir is None:
            raise invalid("Provide source_blob.url.")
        with self.control.store.session() as s:
            app_row = self.control.store.app(s, app)
            build = Build(app_id=app_row.id, status="pending", source=kind, commit=version)
            s.add(build)
            s.flush()
            data = self.build_json(build, app_row.name)
        output = BuildOutput()
        self.outputs[data["id"]] = output
        self.tasks[data["id"]] = asyncio.create_task(
            self._run(data["app"]["name"], data["id"], archive, source_dir, version, output)
        )
        return data

    async def wait(self, build_id: str) -> None:
        task = self.tasks.get(build_id)
        if task is not None:
            await asyncio.shield(task)

    def output(self, build_id: str) -> BuildOutput | None:
        return self.outputs.get(build_id)

    async def _run(
        self,
        app: str,
        build_id: str,
        archive: Path | None,
        source_dir: Path | None,
        version: str | None,
        out: BuildOutput,
    ) -> None:
        lock = self._app_locks.setdefault(app, asyncio.Lock())
        try:
            if lock.locked():
                out.write(f"-----> Waiting for the running build of {app} to finish...")
            async with lock:
                await self._build(app, build_id, archive, source_dir, version, out)
        finally:
            self.tasks.pop(build_id, None)
            self._prune_outputs()

    def _prune_outputs(self) -> None:
        finished = [bid for bid, o in self.outputs.items() if o.done]
        for bid in finished[:-KEEP_FINISHED_OUTPUTS] if len(finished) > KEEP_FINISHED_OUTPUTS else []:
            del self.outputs[bid]

    async def _build(
        self,
        app: str,
        build_id: str,
        archive: Path | None,
        source_dir: Path | None,
        version: str | None,
        out: BuildOutput,
    ) -> None:
        started = time.monotonic()
        logs = self.control.logs
        logs.api_line(app, f"Build started by user {USER}")
        self.control.bus.emit("build.updated", app, id=build_id, status="pending")
        work = self.settings.home / "builds" / build_id
        slug_id_dir = self.settings.slugs_dir / app / build_id
        status, slug_id, release_id, buildpack = "failed", None, None, None
        try:
            src = work / "src"
            if archive is not None:
                await asyncio.to_thread(extract_tarball, archive, src)
            else:
                assert source_dir is not None
                await asyncio.to_thread(
                    shutil.copytree, source_dir, src, symlinks=True, ignore=shutil.ignore_patterns(".git")
                )
            removed = await asyncio.to_thread(apply_slugignore, src)
            if removed:
                out.write(f"-----> Deleting {len(removed)} files matching .slugignore patterns.")
            stack = self.control.get_app(app).stack
            out.write(f"-----> Building on the {stack} stack")
            compiler = choose_compiler(self.compilers, src, stack)
            buildpack = compiler.name
            out.write(f"-----> {compiler.name} app detected")
            ctx = BuildContext(
                app=app,
                source_dir=src,
                slug_dir=slug_id_dir,
                cache_dir=self.settings.cache_dir / app,
                env=self.control.get_config(app),
                out=out.write,
                timeout=self.settings.build_timeout,
                stack=stack,
            )
            ctx.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                await asyncio.wait_for(compiler.compile(ctx), self.settings.build_timeout)
            except TimeoutError:
                raise BuildFailed(
                    f"Build exceeded the {self.settings.build_timeout:g} s build timeout"
                ) from None
            if version:  # like Heroku's SOURCE_VERSION: the commit (or content hash) the slug came from
                await asyncio.to_thread(write_source_version, slug_id_dir, version)
            try:
                process_types = read_procfile(slug_id_dir)
            except ProcfileError as exc:
                raise BuildFailed(str(exc)) from None
            process_types = {**ctx.extra.get("default_process_types", {}), **process_types}  # type: ignore[dict-item]
            out.write("-----> Discovering process types")
            if process_types:
                out.write(f"       Procfile declares types -> {', '.join(process_types)}")
            else:
                out.write("       Procfile declares types -> (none)")
            out.write("-----> Compressing...")
            size = await asyncio.to_thread(directory_size, slug_id_dir)
            out.write(f"       Done: {size / 1024 / 1024:.1f}M")
            limit = self.settings.slug_size_limit_mb
            if size > limit * 1024 * 1024:
                raise BuildFailed(
                    f"Compiled slug size: {size / 1024 / 1024:.1f}M is too large (max is {limit:g}M)."
                )
            docker_image = ctx.extra.get("docker_image")
            slug = self.control.create_slug(
                app,
                slug_id_dir,
                process_types,
                commit=version,
                size=size,
                buildpack=buildpack,
                docker_image=str(docker_image) if docker_image else None,
            )
            slug_id = slug.id
            out.write("-----> Launching...")
            description = f"Deploy {version[:8]}" if version else "Deploy"
            token = progress.set(out.write)
            try:
                release = await self.releaser(app, slug_id, description)
            finally:
                progress.reset(token)
            release_id = release.id
            if release.status == "failed":
                raise BuildFailed(f"Release v{release.version} failed: release phase did not succeed")
            out.write(f"       Released v{release.version}")
            out.write(f"       {self.control.urls.web_url(app)} deployed to paas")
            status = "succeeded"
            logs.api_line(app, "Build succeeded")
        except (BuildFailed, SourceError) as exc:
            out.write(f" !     {exc}")
            out.write(" !     Push failed")
            logs.api_line(app, "Build failed")
        except PaasError as exc:
            out.write(f" !     {exc.message}")
            out.write(" !     Push failed")
            logs.api_line(app, "Build failed")
        except Exception as exc:  # an internal error still ends the build cleanly
            out.write(f" !     Internal build error: {exc.__class__.__name__}: {exc}")
            out.write(" !     Push failed")
            logs.api_line(app, "Build failed")
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if status != "succeeded" and slug_id is None:
                shutil.rmtree(slug_id_dir, ignore_errors=True)
            if archive is not None and archive.parent == self.sources_dir:
                archive.unlink(missing_ok=True)
            self._finish(build_id, status, slug_id, release_id, buildpack, out, time.monotonic() - started)
            out.finish()
            self.control.bus.emit("build.updated", app, id=build_id, status=status)

    def _finish(
        self,
        build_id: str,
        status: str,
        slug_id: str | None,
        release_id: str | None,
        buildpack: str | None,
        out: BuildOutput,
        duration: float,
    ) -> None:
        with self.control.store.session() as s:
            b = s.get(Build, build_id)
            if b is None:
                return
            b.status = status
            b.slug_id = slug_id
            b.release_id = release_id
            b.buildpack = buildpack
            b.duration = round(duration, 3)
            b.output = "\n".join(out.lines)

    def app_exists(self, app: str) -> bool:
        with self.control.store.session() as s:
            return s.scalar(select(App.id).where(App.name == app)) is not None

    def resolve_interrupted(self) -> int:
        """At start: builds a dead daemon left `pending` failed (their slug never went live)."""
        with self.control.store.session() as s:
            rows = list(s.scalars(select(Build).where(Build.status == "pending")))
            apps = [self.control.store.app(s, b.app_id).name for b in rows]
            for b in rows:
                b.status = "failed"
                b.output = (b.output + "\n" if b.output else "") + INTERRUPTED
        for app in apps:
            self.control.logs.api_line(app, "Build failed")
        return len(rows)
