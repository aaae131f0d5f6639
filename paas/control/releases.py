"""The one release path: every release an app gets is made here.

Deploys, config changes (the API's, an app setup's, an add-on's), rollbacks, pipeline
promotions and container releases all become `ReleasePath` calls. Releases of one app are
serialised (a per-app lock), so two changes never interleave.

A release is a slug plus a config snapshot, `vN`. Without a `release:` process type it is
created `succeeded` at once, and in the same transaction the app's live config becomes its config
and new process types join the formation. With one, Heroku's release phase: the release is
created `pending` (the change lives on it alone: the app's config is untouched), its command
runs in a one-off dyno `release.NNNN` with the new slug and config (output in the log stream as
`app[release.NNNN]` and in the progress of the build that asked), and only on exit status 0 does
it go live. Any other outcome marks it `failed`; the running dynos, the formation and the config
stay as they were. A daemon killed meanwhile leaves it `pending`; the next start marks it failed
(`resolve_interrupted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.crashpoints import crash_point
from common.errors import invalid
from common.events import Event, EventBus
from common.loghub import LogHub
from dynos.types import AppDesired
from paas.control.locks import KeyedLocks
from paas.control.naming import USER, ConfigPatch
from paas.control.store import Store
from paas.control.values import ReleaseInfo, SlugInfo, enabled_features
from paas.state.models import App, Release

RELEASE_PHASE_TIMEOUT = 3600.0  # Heroku: a release command may run for at most one hour
MAX_RELEASE_OUTPUT_LINES = 5000
INTERRUPTED = "The paas daemon stopped while this release's command ran, so the release failed."

# Where a release's progress is also written: the build or app setup that asked for the release.
progress: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "release_progress", default=None
)

# Changes committed in the same transaction as a release going live (an add-on's row, say).
WithRelease = Callable[[Session], None]


def _say(line: str) -> None:
    write = progress.get()
    if write is not None:
        write(line)


class RunningCommand(Protocol):
    async def wait(self) -> int: ...

    async def stop(self) -> None: ...


class OneOffRunner(Protocol):
    """Runs a one-off dyno (the dyno manager does)."""

    async def run_oneoff(
        self, desired: AppDesired, command: str, *, attach: bool, name: str | None = None
    ) -> RunningCommand: ...


@dataclass(frozen=True)
class Draft:
    """A release about to be made: what it will hold and how it goes live."""

    app_id: str
    app: str
    description: str
    slug_id: str | None
    config: Mapping[str, str]
    process_types: Mapping[str, str] = field(default_factory=dict)
    release_phase: bool = True
    changed_keys: tuple[str, ...] = ()  # config vars this release changes (a config change)

    @property
    def command(self) -> str | None:
        return (self.process_types.get("release") or None) if self.release_phase else None


def add_release(
    s: Session,
    app: App,
    description: str,
    slug_id: str | None,
    config: Mapping[str, str],
    status: str,
    addon_plan_names: list[str],
) -> Release:
    """A new release row `v<top + 1>` (this module is the only writer of releases)."""
    top = s.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
    release = Release(
        app_id=app.id,
        version=top + 1,
        description=description,
        slug_id=slug_id,
        config=dict(config),
        status=status,
        addon_plan_names=addon_plan_names,
    )
    s.add(release)
    s.flush()
    return release


def initial_releases(s: Session, app: App) -> None:
    """v1 and v2 of a new app, as Heroku makes them."""
    s.add(Release(app_id=app.id, version=1, description="Initial release", config={}))
    s.add(Release(app_id=app.id, version=2, description="Enable Logplex", config={}))


class ReleasePath:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        logs: LogHub,
        runner: OneOffRunner,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.store = store
        self.bus = bus
        self.logs = logs
        self.runner = runner
        self.report_error = report_error
        self._locks = KeyedLocks()

    # ---- the doors ------------------------------------------------------------------------
    async def release_slug(self, app: str, slug_id: str, description: str) -> ReleaseInfo:
        """Deploy: a release of one of the app's slugs with its current config."""
        async with self._serialised(app) as app_id:
            draft = self._draft_deploy(app_id, slug_id, description)
            self.logs.api_line(draft.app, f"{description} by user {USER}")
            return await self._release(draft)

    async def rollback(self, app: str, ref: str | None) -> ReleaseInfo:
        """A new release with the slug and config of an earlier one (the previous by default)."""
        async with self._serialised(app) as app_id:
            draft = self._draft_rollback(app_id, ref)
            self.logs.api_line(draft.app, f"{draft.description} by user {USER}")
            return await self._release(draft)

    async def update_config(
        self,
        app: str,
        changes: object,
        description: str | None = None,
        *,
        by_addon: bool = False,
        with_release: WithRelease | None = None,
    ) -> ReleaseInfo | None:
        """PATCH semantics (a value sets, None unsets); one new release, or the live one when
        nothing changes. A failed release phase is a 422 and changes nothing.

        `by_addon`: a change an add-on makes to its own config vars (attach, detach, credential
        rotation): no release phase (Heroku skips it for add-on-managed vars) and the reserved
        HEROKU_ prefix is allowed. `with_release` runs in the transaction that makes it live."""
        patch = ConfigPatch.parse(changes, managed=by_addon)
        async with self._serialised(app) as app_id:
            draft = self._draft_config(app_id, patch, description, release_phase=not by_addon)
            if draft is None:
                return self.store.current_release_info(app_id)
            self.logs.api_line(draft.app, f"{draft.description} by user {USER}")
            release = await self._release(draft, with_release)
        if release.status == "failed":
            raise invalid(
                f"Release v{release.version} failed: its release command did not succeed, so the config "
                f"vars were not changed. See `paas releases:output v{release.version}`."
            )
        return release

    def in_flight(self, app: str) -> int:
        """How many changes of this app are being made or wait their turn."""
        return self._locks.users(self.store.app_info(app).id)

    @asynccontextmanager
    async def _serialised(self, app: str) -> AsyncIterator[str]:
        app_id = self.store.app_info(app).id  # 404 before waiting for anything
        async with self._locks.hold(app_id):
            yield app_id

    # ---- drafts: what the next release holds ------------------------------------------------
    def _draft_deploy(self, app_id: str, slug_id: str, description: str) -> Draft:
        with self.store.session() as s:
            app = self.store.app(s, app_id)
            slug = SlugInfo.of(self.store.slug(s, app, slug_id))
            return Draft(app_id, app.name, description, slug.id, dict(app.config or {}), slug.process_types)

    def _draft_rollback(self, app_id: str, ref: str | None) -> Draft:
        with self.store.session() as s:
            app = self.store.app(s, app_id)
            target = self.store.release(s, app, ref) if ref is not None else self._previous(s, app)
            if target.status != "succeeded":
                raise invalid(f"Release v{target.version} failed and can't be rolled back to.")
            process_types = (
                SlugInfo.of(self.store.slug(s, app, target.slug_id)).process_types if target.slug_id else {}
            )
            return Draft(
                app_id,
                app.name,
                f"Rollback to v{target.version}",
                target.slug_id,
                dict(target.config or {}),
                process_types,
            )

    def _previous(self, s: Session, app: App) -> Release:
        current = self.store.current_release(s, app)
        target = None
        if current is not None and current.version > 1:
            target = s.scalar(
                select(Release)
                .where(
                    Release.app_id == app.id, Release.version < current.version, Release.status == "succeeded"
                )
                .order_by(Release.version.desc())
                .limit(1)
            )
        if target is None:
            raise invalid("No release to roll back to.")
        return target

    def _draft_config(
        self, app_id: str, patch: ConfigPatch, description: str | None, release_phase: bool
    ) -> Draft | None:
        with self.store.session() as s:
            app = self.store.app(s, app_id)
            change = patch.apply(dict(app.config or {}))
            if change is None:
                return None
            config, described = change
            current = self.store.current_release(s, app)
            slug_id = current.slug_id if current is not None else None
            process_types = SlugInfo.of(self.store.slug(s, app, slug_id)).process_types if slug_id else {}
            return Draft(
                app_id,
                app.name,
                description or described,
                slug_id,
                config,
                process_types,
                release_phase=release_phase,
                changed_keys=tuple(patch.keys),
            )

    # ---- making it ----------------------------------------------------------------------------
    async def _release(self, draft: Draft, with_release: WithRelease | None = None) -> ReleaseInfo:
        command = draft.command
        if command is None:
            release = self._commit(draft, "succeeded", with_release)
            self._announce(release, draft)
            return release
        pending = self._commit(draft, "pending")
        self.bus.emit(
            "release.created",
            draft.app,
            version=pending.version,
            description=draft.description,
            status="pending",
        )
        crash_point("release.after_pending")
        _say("-----> Running release command...")
        try:
            status, output = await self.run_command(draft.app, pending.version, command)
        except Exception as exc:  # the daemon must survive; the release simply fails
            self.report_error(exc)
            status, output = 1, [f"release phase could not run: {exc.__class__.__name__}: {exc}"]
        crash_point("release.before_finish")
        return self._finish(draft, pending, status, "\n".join(output), with_release)

    def _commit(self, draft: Draft, status: str, with_release: WithRelease | None = None) -> ReleaseInfo:
        live = status == "succeeded"
        with self.store.session() as s:
            app = self.store.app(s, draft.app_id)
            if live and with_release is not None:
                with_release(s)
                s.flush()
            plans = self.store.addon_plan_names(s, app)
            row = add_release(s, app, draft.description, draft.slug_id, draft.config, status, plans)
            if live:
                self._go_live(s, app, row, draft)
            return ReleaseInfo.of(row, app.name)

    def _go_live(self, s: Session, app: App, row: Release, draft: Draft) -> None:
        app.config = dict(row.config or {})
        app.released_at = datetime.now(UTC)
        if draft.slug_id is not None:
            self.store.ensure_formation(s, app, draft.process_types)

    def _finish(
        self, draft: Draft, pending: ReleaseInfo, status: int, output: str, with_release: WithRelease | None
    ) -> ReleaseInfo:
        ok = status == 0
        _say(
            "       Release command succeeded"
            if ok
            else f" !     Release command failed with exit status {status}"
        )
        with self.store.session() as s:
            app = self.store.app(s, draft.app_id)
            row = self.store.release(s, app, pending.version)
            row.status = "succeeded" if ok else "failed"
            row.output = output
            if ok:
                if with_release is not None:
                    with_release(s)
                self._go_live(s, app, row, draft)
            s.flush()
            release = ReleaseInfo.of(row, app.name)
        if not ok:
            self.logs.api_line(draft.app, f"Release v{release.version} command failed by user {USER}")
        self.bus.emit("release.updated", draft.app, version=release.version, status=release.status)
        if ok:
            self._announce(release, draft)
        return release

    def _announce(self, release: ReleaseInfo, draft: Draft) -> None:
        """A release went live: Heroku's `app[api]` line and the events the daemon acts on."""
        self.logs.api_line(draft.app, f"Release v{release.version} created by user {USER}")
        self.bus.emit(
            "release.created",
            draft.app,
            version=release.version,
            description=release.description,
            status=release.status,
        )
        if draft.changed_keys:
            self.bus.emit("config.changed", draft.app, keys=list(draft.changed_keys), version=release.version)

    # ---- one-off commands on a release ----------------------------------------------------------
    async def run_command(
        self,
        app: str,
        version: int,
        command: str,
        dyno_type: str = "release",
        timeout: float = RELEASE_PHASE_TIMEOUT,
    ) -> tuple[int, list[str]]:
        """Run `command` as `<dyno_type>.NNNN` on release `version` (its slug and config); returns
        (exit status, output lines). The lines also go to the log stream and, indented, to the
        progress of the build that asked."""
        desired = self._oneoff_desired(app, version)
        name = f"{dyno_type}.{random.randint(1000, 9999)}"
        lines: list[str] = []

        def collect(event: Event) -> None:
            line = event.data.get("line")
            if event.app != desired.app or line is None or line.dyno != name or line.source != "app":
                return
            if len(lines) < MAX_RELEASE_OUTPUT_LINES:
                lines.append(line.text)
                _say(f"       {line.text}")

        unlisten = self.bus.listen(["log.line"], collect)
        try:
            oneoff = await self.runner.run_oneoff(desired, command, attach=False, name=name)
            try:
                status = await asyncio.wait_for(oneoff.wait(), timeout)
            except TimeoutError:
                lines.append(f"{dyno_type} command timed out after {timeout:g} s")
                with contextlib.suppress(Exception):
                    await oneoff.stop()
                status = 1
        finally:
            unlisten()
        return int(status), lines

    def _oneoff_desired(self, app: str, version: int) -> AppDesired:
        with self.store.session() as s:
            app_row = self.store.app(s, app)
            release = self.store.release(s, app_row, version)
            slug = SlugInfo.of(self.store.slug(s, app_row, release.slug_id)) if release.slug_id else None
            return AppDesired(
                app=app_row.name,
                release=version,
                slug_dir=slug.path if slug else None,
                config=dict(release.config or {}),
                processes=(),
                docker_image=slug.docker_image if slug else None,
                features=frozenset(enabled_features(app_row.features)),
            )

    # ---- after a crash ----------------------------------------------------------------------------
    def resolve_interrupted(self) -> int:
        """At start: every release left `pending` by a daemon that died in its release phase
        fails, with an `app[api]` line. The config never held its change. Returns how many."""
        with self.store.session() as s:
            rows = list(s.scalars(select(Release).where(Release.status == "pending")))
            failed: list[tuple[str, int]] = []
            for row in rows:
                row.status = "failed"
                row.output = (row.output + "\n" if row.output else "") + INTERRUPTED
                failed.append((row.app.name, row.version))
        for app, version in failed:
            self.logs.api_line(
                app, f"Release v{version} failed: the paas daemon stopped during its release phase"
            )
            self.bus.emit("release.updated", app, version=version, status="failed")
        return len(failed)
