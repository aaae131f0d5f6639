"""The dyno manager: makes the running dynos of every app match what the control plane wants.

The daemon calls `apply(control.desired(app))` after every release, formation change or
restart-worthy change; `apply` reconciles: it starts missing formation dynos, retires the
extra ones (scale down), and restarts those whose spec changed (new release = new slug or
config, new size). Each formation dyno has a `Supervisor` (dynos/supervisor.py) running
Heroku's lifecycle; one-off dynos are `OneOff`s (dynos/oneoff.py). The manager never writes
to the state database: it receives desired state and publishes `dyno.state` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from common.config import Settings
from common.errors import PaasError, conflict, invalid
from common.events import EventBus
from common.loghub import LogHub
from dynos.fleet import AppDynos
from dynos.oneoff import OneOff
from dynos.preboot import Preboot
from dynos.runtimes.base import DynoSpec, Runtime
from dynos.sizes import SIZES, DynoSize, get_size
from dynos.supervisor import Context, Pending, Request, Supervisor
from dynos.types import AppDesired, DynoInfo, ProcessDesired

USER = "local@paas"
ATTACH_TIMEOUT = 60.0
RUNTIME_METRICS = "log-runtime-metrics"  # the labs feature that turns the samples on
MAX_TIME_TO_LIVE = 86400  # an attached one-off waits this long for its client (then R13)
_DYNO_NAME = re.compile(r"([A-Za-z0-9_-]+)\.(\d+)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def dyno_not_found(app: str, target: str) -> PaasError:
    return PaasError(404, "not_found", f"Couldn't find that dyno or process type ({target}) on {app}.")


def sort_key(name: str) -> tuple[int, str, int]:
    match = _DYNO_NAME.fullmatch(name)
    if not match:
        return (1, name, 0)
    ptype, number = match.groups()
    return (1 if ptype == "run" else 0, ptype, int(number))


class DynoManager:
    """Formation reconcile, restarts, stops, one-offs. All methods run on the daemon's loop."""

    def __init__(self, settings: Settings, bus: EventBus, logs: LogHub, runtime: Runtime):
        self.settings = settings
        self.bus = bus
        self.logs = logs
        self.runtime = runtime
        # set by the daemon to its routers' "every change applied" wait (router processes)
        self.route_barrier: Callable[[], Awaitable[object]] | None = None
        self.ctx = Context(
            settings,
            runtime,
            bus,
            logs.heroku_line,
            logs.app_line,
            self._runtime_metrics,
            self._route_barrier,
        )
        self.attach_timeout = ATTACH_TIMEOUT
        self.preboot = Preboot(self)  # the web restart strategy when the app enables preboot
        self._apps: dict[str, AppDynos] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._started = False

    async def _route_barrier(self) -> None:
        if self.route_barrier is not None:
            await self.route_barrier()

    # ---- daemon lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Reap dynos a previous daemon left behind (even after SIGKILL); get the runtime ready."""
        await self.runtime.prepare()
        self._started = True

    async def shutdown(self) -> None:
        """Stop every dyno (SIGTERM → grace → SIGKILL, in parallel), then close the runtime."""
        self._closing = True
        waits = []
        for name, app in list(self._apps.items()):
            staged = self.preboot.staged(name)  # new web dynos still booting beside the old
            for sup in list(app.slots.values()) + list(app.retiring.values()) + staged:
                waits.append(sup.retire())
            for oneoff in list(app.oneoffs.values()):
                waits.append(oneoff.stop())
        await asyncio.gather(*waits, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._apps.clear()
        await self.runtime.close()

    def track(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background; shutdown waits for it."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _runtime_metrics(self, app: str) -> str | None:
        """The app's id when it enabled log-runtime-metrics (Heroku's labs feature)."""
        entry = self._apps.get(app)
        desired = entry.desired if entry is not None else None
        if desired is None or RUNTIME_METRICS not in desired.features:
            return None
        return desired.app_id or desired.app

    def holds(self, app: str, entry: AppDynos) -> bool:
        """`entry` is still `app`'s record and the manager is not shutting down."""
        return not self._closing and self._apps.get(app) is entry

    # ---- specs ---------------------------------------------------------------------------
    def _env(self, desired: AppDesired, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: str(v) for k, v in desired.config.items()}
        if extra:
            env.update({k: str(v) for k, v in extra.items()})
        return env

    def _spec(self, desired: AppDesired, process: ProcessDesired, number: int) -> DynoSpec:
        name = f"{process.type}.{number}"
        env = self._env(desired)
        env["DYNO"] = name
        return DynoSpec(
            app=desired.app,
            name=name,
            type=process.type,
            command=process.command,
            release=desired.release,
            env=env,
            slug_dir=desired.slug_dir,
            docker_image=desired.docker_image,
            size=_size(process.size),
            wants_port=process.type == "web",
        )

    @staticmethod
    def _runnable(desired: AppDesired) -> bool:
        return desired.release > 0 and (desired.slug_dir is not None or desired.docker_image is not None)

    # ---- reconcile -----------------------------------------------------------------------
    async def apply(self, desired: AppDesired) -> None:
        """Make the app's formation dynos match `desired`. New release ⇒ every dyno restarts."""
        if self._closing:
            return
        app = self._apps.setdefault(desired.app, AppDynos())
        async with app.lock:
            previous = app.desired
            app.desired = desired
            new_release = previous is None or previous.release != desired.release
            wanted = self.preboot.adjust(
                app, desired, self._wanted(desired)
            )  # old web dynos may keep serving
            for name in [n for n in app.slots if n not in wanted]:
                self.retire(app, app.slots.pop(name))
            for _, spec in sorted(wanted.items(), key=lambda kv: sort_key(kv[0])):
                self._place(app, spec, new_release)

    def _wanted(self, desired: AppDesired) -> dict[str, DynoSpec]:
        """The formation dynos `desired` asks for, by name."""
        wanted: dict[str, DynoSpec] = {}
        if not self._runnable(desired):
            return wanted
        for process in desired.processes:
            if process.type == "release":  # the release phase is a one-off, never formation
                continue
            for number in range(1, max(0, process.quantity) + 1):
                spec = self._spec(desired, process, number)
                wanted[spec.name] = spec
        return wanted

    def _place(self, app: AppDynos, spec: DynoSpec, new_release: bool) -> None:
        """Start the dyno `spec` names, or restart it with `spec` when that changed."""
        sup = app.slots.get(spec.name)
        if sup is None:
            sup = app.slots[spec.name] = Supervisor(self.ctx, spec)
            old = app.retiring.get(spec.name)
            if old is not None:  # same name still shutting down: start after it is gone
                self.track(self._start_after(old, sup))
            else:
                sup.start()
        elif sup.spec != spec:
            sup.request(Pending(Request.RESTART, "Restarting", spec, reset_backoff=new_release))

    def retire(self, app: AppDynos, sup: Supervisor) -> None:
        """Stop `sup` for good, keeping it listed (as retiring) until it is gone."""
        app.retiring[sup.name] = sup

        async def retire() -> None:
            try:
                await sup.retire()
            finally:
                if app.retiring.get(sup.name) is sup:
                    del app.retiring[sup.name]

        self.track(retire())

    async def _start_after(self, old: Supervisor, new: Supervisor) -> None:
        await old.join()
        if not self._closing:
            new.start()  # a retire requested meanwhile is pending and ends it at once

    # ---- restart / stop / kill -----------------------------------------------------------
    def _app(self, name: str) -> AppDynos:
        app = self._apps.get(name)
        if app is None:
            app = self._apps[name] = AppDynos()
        return app

    def _targets(self, app_name: str, target: str | None) -> tuple[list[Supervisor], list[OneOff]]:
        app = self._app(app_name)
        if target is None or target == "":
            return list(app.slots.values()), []
        if target in app.slots:
            return [app.slots[target]], []
        if target in app.oneoffs:
            return [], [app.oneoffs[target]]
        if "." not in target:
            sups = [s for s in app.slots.values() if s.spec.type == target]
            runs = [o for o in app.oneoffs.values()] if target == "run" else []
            if sups or runs:
                return sups, runs
            if app.desired and any(p.type == target for p in app.desired.processes):
                return [], []  # a known type scaled to 0: nothing to do, not an error
        raise dyno_not_found(app_name, target)

    async def restart(self, app: str, target: str | None = None) -> list[str]:
        """ps:restart: None = every formation dyno, "web" = a type, "web.1" = one dyno.

        Restarting clears a crash back-off. A one-off dyno cannot restart; it is stopped.
        """
        sups, runs = self._targets(app, target)
        for sup in sups:
            sup.request(Pending(Request.RESTART, "Restarting", reset_backoff=True))
        for run in runs:
            self.track(run.stop())
        return sorted([s.name for s in sups] + [r.name for r in runs], key=sort_key)

    async def stop(self, app: str, target: str) -> list[str]:
        """ps:stop: formation dynos stop, then come back (Cedar); one-off dynos stop for good."""
        sups, runs = self._targets(app, target)
        for sup in sups:
            sup.request(Pending(Request.STOP))
        for run in runs:
            self.track(run.stop())
        return sorted([s.name for s in sups] + [r.name for r in runs], key=sort_key)

    async def kill(self, app: str, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process of one dyno: a real crash, detected like any other."""
        entry = self._app(app)
        sup = entry.slots.get(name)
        if sup is not None:
            if not sup.kill(sig):
                raise conflict(f"Dyno {name} has no running process (it is {sup.state}).")
            return
        run = entry.oneoffs.get(name)
        if run is not None:
            if not run.signal(sig):
                raise conflict(f"Dyno {name} has no running process (it is {run.state}).")
            return
        raise dyno_not_found(app, name)

    async def remove_app(self, app: str) -> None:
        entry = self._apps.pop(app, None)
        if entry is None:
            return
        staged = self.preboot.forget(app)
        waits = [sup.retire() for sup in list(entry.slots.values()) + list(entry.retiring.values()) + staged]
        waits += [run.stop() for run in list(entry.oneoffs.values())]
        await asyncio.gather(*waits, return_exceptions=True)

    # ---- views ---------------------------------------------------------------------------
    def dynos(self, app: str | None = None) -> list[DynoInfo]:
        apps = [app] if app is not None else sorted(self._apps)
        out: list[DynoInfo] = []
        for name in apps:
            entry = self._apps.get(name)
            if entry is None:
                continue
            infos = {n: s.info() for n, s in entry.retiring.items()}
            infos.update({n: s.info() for n, s in entry.slots.items()})
            infos.update({n: o.info() for n, o in entry.oneoffs.items()})
            out += [infos[n] for n in sorted(infos, key=sort_key)]
        return out

    def dyno(self, app: str, name: str) -> DynoInfo:
        for info in self.dynos(app):
            if info.name == name:
                return info
        raise dyno_not_found(app, name)

    def supervisor(self, app: str, name: str) -> Supervisor | None:
        entry = self._apps.get(app)
        return entry.slots.get(name) if entry else None

    def oneoff(self, app: str, name: str) -> OneOff | None:
        entry = self._apps.get(app)
        return entry.oneoffs.get(name) if entry else None

    # ---- one-off dynos -------------------------------------------------------------------
    def _empty_slug(self) -> Path:
        path = self.settings.dynos_dir / "empty-slug"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _oneoff_name(self, entry: AppDynos) -> str:
        for _ in range(1000):
            name = f"run.{random.randint(1000, 9999)}"
            if name not in entry.oneoffs:
                return name
        raise conflict("Too many one-off dynos running.")

    async def run_oneoff(
        self,
        desired: AppDesired,
        command: str,
        *,
        attach: bool,
        env: dict[str, str] | None = None,
        size: str = "standard-1x",
        user: str = USER,
        name: str | None = None,
        time_to_live: float | None = None,
    ) -> OneOff:
        """Start `run.N` with the app's current release and config.

        attach=True: the dyno waits for `OneOff.start(tty=..., rows=..., cols=...)` from the
        attached client (at most `attach_timeout` seconds, then R13). attach=False: it starts
        now and its output goes to the log stream. `name` is for the release phase (`release.N`).
        `time_to_live` (seconds, Heroku allows up to 86400) stops the dyno when it runs out.
        """
        if self._closing:
            raise PaasError(503, "unavailable", "The daemon is shutting down.")
        dyno_size = _check_oneoff(command, env, size, time_to_live)
        entry = self._app(desired.app)
        dyno_name = name or self._oneoff_name(entry)
        if dyno_name in entry.oneoffs:
            raise conflict(f"Dyno {dyno_name} is already running.")
        spec = self._oneoff_spec(desired, dyno_name, command, env, dyno_size)
        self.logs.api_line(desired.app, f"Starting process with command `{command}` by user {user}")

        def done(oneoff: OneOff) -> None:
            if entry.oneoffs.get(oneoff.name) is oneoff:
                del entry.oneoffs[oneoff.name]

        oneoff = OneOff(self.ctx, spec, attach=attach, attach_timeout=self.attach_timeout, on_done=done)
        entry.oneoffs[dyno_name] = oneoff
        if time_to_live is not None:
            self.track(self._expire(oneoff, time_to_live))
        if not attach:
            await oneoff.start()
        return oneoff

    def _oneoff_spec(
        self, desired: AppDesired, name: str, command: str, env: dict[str, str] | None, size: DynoSize
    ) -> DynoSpec:
        slug_dir = desired.slug_dir
        if slug_dir is None and desired.docker_image is None:
            slug_dir = self._empty_slug()  # Heroku runs one-offs on a blank app too
        env_vars = self._env(desired, env)
        env_vars["DYNO"] = name
        return DynoSpec(
            app=desired.app,
            name=name,
            type=name.split(".", 1)[0],
            command=command,
            release=desired.release,
            env=env_vars,
            slug_dir=slug_dir,
            docker_image=desired.docker_image,
            size=size,
            wants_port=True,
            stdio="log",
        )

    async def _expire(self, oneoff: OneOff, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(oneoff.wait(), seconds)
            return
        await oneoff.stop()


def _check_oneoff(
    command: str, env: dict[str, str] | None, size: str, time_to_live: float | None
) -> DynoSize:
    """A one-off's request, checked whole: its size, or a 422 saying what is wrong."""
    if not command or not command.strip():
        raise invalid("Provide a command to run.")
    bad = [k for k in env or {} if not _ENV_NAME.fullmatch(str(k))]
    if bad:
        raise invalid(f"Invalid environment variable name {bad[0]!r}.")
    try:
        dyno_size = get_size(size or "standard-1x")
    except ValueError:
        raise invalid(f"Unknown dyno size {size!r}; choose one of: {', '.join(SIZES)}") from None
    if time_to_live is not None and not 0 < time_to_live <= MAX_TIME_TO_LIVE:
        raise invalid(f"time_to_live must be between 1 and {MAX_TIME_TO_LIVE} seconds.")
    return dyno_size


def _size(name: str) -> DynoSize:
    try:
        return get_size(name or "standard-1x")
    except ValueError:  # an unknown size in the state database must not stop the app
        return get_size("standard-1x")
