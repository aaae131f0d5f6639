"""Destroying an app: its dynos stop, its add-ons are deprovisioned, then its rows and files go.

One owner for the whole sequence, because it spans parts that never call each other: the dyno
fleet, the add-on providers, builds and the state database. The order makes a crash at any step
resumable: the app is first marked `destroying` (committed), each add-on's row goes only once
its provider has deprovisioned it, then the app's files, and its rows last, in one transaction.
At start, `resume` finishes every app still marked.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from sqlalchemy import select

from common.crashpoints import crash_point
from common.events import EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from paas.addons.service import AddonService
from paas.builds.service import BuildService
from paas.control.store import Store
from paas.control.values import AppInfo
from paas.state.models import Addon, App, Build, Domain, Formation, Release, Slug


class AppTeardown:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        logs: LogHub,
        dynos: DynoManager,
        addons: AddonService,
        builds: BuildService,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.store = store
        self.bus = bus
        self.logs = logs
        self.dynos = dynos
        self.addons = addons
        self.builds = builds
        self.report_error = report_error

    async def destroy(self, app: str) -> AppInfo:
        info = self._mark(app)
        crash_point("app.after_mark_destroying")
        await self._finish(info)
        return info

    def _mark(self, ident: str) -> AppInfo:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            app.destroying = True
            s.flush()
            return AppInfo.of(app)

    async def _finish(self, info: AppInfo) -> None:
        await self.dynos.remove_app(info.name)
        await self.addons.destroy_all(info.name)
        crash_point("app.after_addons")
        for path in self._slug_paths(info.id):
            shutil.rmtree(path, ignore_errors=True)
        self.builds.forget_app(info.name)
        self._delete_rows(info.id)
        self.logs.forget(info.name)
        self.bus.emit("app.destroyed", info.name)

    def _slug_paths(self, app_id: str) -> list[str]:
        with self.store.session() as s:
            return list(s.scalars(select(Slug.path).where(Slug.app_id == app_id)))

    def _delete_rows(self, app_id: str) -> None:
        """Every row of the app, in one transaction."""
        with self.store.session() as s:
            app = s.get(App, app_id)
            if app is None:
                return
            for model in (Addon, Domain, Build, Formation, Release):
                for row in s.scalars(select(model).where(model.app_id == app.id)):
                    s.delete(row)
            s.flush()
            for slug in s.scalars(select(Slug).where(Slug.app_id == app.id)):
                s.delete(slug)
            s.delete(app)

    # ---- after a crash ----------------------------------------------------------------------
    async def resume(self) -> int:
        """At start: finish destroying every app a dead daemon left marked. Returns how many."""
        with self.store.session() as s:
            marked = [AppInfo.of(a) for a in s.scalars(select(App).where(App.destroying.is_(True)))]
        finished = 0
        for info in marked:
            try:
                await self._finish(info)
            except Exception as exc:  # the next start tries again
                self.report_error(exc)
                continue
            finished += 1
        return finished
