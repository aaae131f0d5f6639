"""`paas tui`: watch the platform work, and the router fail, as it happens.

One `/events` stream feeds a `Store`; a 10 Hz tick hands what changed to the visible screen,
which redraws only that. Actions are one key each (listed by `?`, searchable with `:`), run
as workers so the UI never waits on the daemon.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from tui.client import ApiError, Backend, EventPump, HttpBackend, NotAvailable
from tui.model import Store
from tui.screens.app_view import AppScreen
from tui.screens.base import BREAKPOINTS, NARROW, PaasScreen, StatusBar
from tui.screens.dataclips import DataclipsScreen
from tui.screens.help import HelpScreen
from tui.screens.kafka import KafkaScreen
from tui.screens.logs import LogsScreen, RouterScreen
from tui.screens.overview import OverviewScreen

TICK = 0.1  # UI flush: at most 10 redraws a second, however fast lines arrive
DYNO_REFRESH = 2.0  # memory figures are not pushed; the app view asks this often


@dataclass(frozen=True)
class View:
    """One screen of the navigation: its number key, mode name and screen class. A new view
    (the Metrics view is next, on 7) is one more row here and one line in the help."""

    key: str
    mode: str
    screen: type[PaasScreen]
    title: str


VIEWS = (
    View("1", "overview", OverviewScreen, "Overview"),
    View("2", "app", AppScreen, "App"),
    View("3", "router", RouterScreen, "Router"),
    View("4", "logs", LogsScreen, "Logs"),
    View("5", "kafka", KafkaScreen, "Kafka"),
    View("6", "dataclips", DataclipsScreen, "Dataclips"),
)


class PaasApp(App[None]):
    CSS_PATH = "paas.tcss"
    TITLE = "paas"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = BREAKPOINTS
    MODES = {view.mode: view.screen for view in VIEWS}
    DEFAULT_MODE = "overview"
    BINDINGS = [
        *(Binding(view.key, f"switch_mode('{view.mode}')", view.title, show=False) for view in VIEWS),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Commands"),
        Binding("plus,equals_sign", "scale(1)", "Web+"),
        Binding("minus", "scale(-1)", "Web-"),
        Binding("r", "restart", "Restart"),
        Binding("s", "stop", "Stop"),
        Binding("c", "crash", "Crash"),
        Binding("m", "maintenance", "Maint"),
        Binding("b", "rollback", "Rollback"),
        Binding("o", "open", "Open", show=False),
        Binding("left_square_bracket", "cycle_app(-1)", "Prev app", show=False),
        Binding("right_square_bracket", "cycle_app(1)", "Next app", show=False),
        Binding("escape", "go_back", "Back", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        app_name: str | None = None,
        clock: Callable[[], float] = time.time,
        freeze_gc: bool = True,
    ):
        super().__init__()
        self.backend: Backend = backend or HttpBackend()
        self.store = Store(clock)
        self.current_app: str | None = app_name
        self.pump = EventPump(self.backend, self._on_events, self.resync, self._on_status)
        self.actions_done: list[str] = []
        self._frozen = not freeze_gc  # tests running many apps in one process turn this off  # what the action keys did (tests, and the status line)

    # ---- lifecycle --------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.run_worker(self.pump.run(), group="events", exclusive=True, exit_on_error=False)
        self.set_interval(TICK, self._tick)
        self.set_interval(1.0, self._second)
        self.set_interval(DYNO_REFRESH, self._refresh_dynos)

    async def on_unmount(self) -> None:
        await self.backend.close()

    def _on_events(self, batch: list[dict[str, Any]]) -> None:
        apply = self.store.apply
        for event in batch:
            apply(event)

    def _on_status(self, text: str, connected: bool) -> None:
        self.store.status = text
        self.store.connected = connected
        self.update_status()

    async def resync(self) -> None:
        """After every (re)connect: the apps and what the events will not repeat."""
        store = self.store
        apps = await self.backend.request("GET", "/apps")
        store.load_apps(apps or [])
        for name in store.app_names():
            await self._load_app(name)
        await self.load_metrics()
        if self.current_app not in store.apps:
            names = store.app_names()
            self.current_app = names[0] if names else None
        self.refresh_screen()
        if not self._frozen:
            # Everything built so far (widgets, styles, caches) lives as long as the app: move it
            # out of the collector's way, so full collections under a heavy stream stay short.
            self._frozen = True
            gc.collect()
            gc.freeze()

    async def _load_app(self, name: str) -> None:
        store = self.store
        try:
            store.load_formation(name, await self.backend.request("GET", f"/apps/{name}/formation"))
            store.load_releases(name, await self.backend.request("GET", f"/apps/{name}/releases"))
        except ApiError:
            return  # destroyed meanwhile
        with contextlib.suppress(ApiError):  # a daemon without autoscaling, or no web process
            store.load_autoscale(
                name, await self.backend.request("GET", f"/apps/{name}/formation/web/monitors")
            )
        await self.load_dynos(name)

    async def load_dynos(self, name: str) -> None:
        try:
            rows = await self.backend.request("GET", f"/apps/{name}/dynos")
        except NotAvailable:
            rows = None
        except ApiError:
            return
        self.store.load_dynos(name, rows if isinstance(rows, list) or rows is None else None)

    def refresh_dynos(self, name: str) -> None:
        async def work() -> None:
            await self.load_dynos(name)

        self.run_worker(work, group="dynos", exclusive=True)  # type: ignore[arg-type]

    async def load_metrics(self) -> None:
        try:
            metrics = await self.backend.request("GET", "/router/metrics")
        except ApiError:
            return
        if isinstance(metrics, dict):
            apps = metrics.get("apps")
            self.store.seed_metrics(apps if isinstance(apps, dict) else metrics)

    def _tick(self) -> None:
        changes = self.store.take_changes()
        screen = self.active_screen()
        if screen is not None:
            with contextlib.suppress(NoMatches):  # a screen being torn down (app exit)
                screen.on_tick(changes)
        if changes & {"apps"} and self.current_app not in self.store.apps:
            names = self.store.app_names()
            self.current_app = names[0] if names else None
            self.refresh_screen()

    def _second(self) -> None:
        screen = self.active_screen()
        if screen is not None:
            with contextlib.suppress(NoMatches):
                screen.on_second()
        self.update_status()

    def _refresh_dynos(self) -> None:
        if isinstance(self.active_screen(), AppScreen) and self.current_app and self.store.connected:
            state = self.store.apps.get(self.current_app)
            if state is not None and state.dynos_endpoint is not False:
                self.refresh_dynos(self.current_app)

    def active_screen(self) -> PaasScreen | None:
        """The visible paas screen, once mounted (not the help overlay, not during exit)."""
        try:
            screen = self.screen
        except ScreenStackError:
            return None
        return screen if isinstance(screen, PaasScreen) and screen.ready else None

    def refresh_screen(self) -> None:
        screen = self.active_screen()
        if screen is not None:
            with contextlib.suppress(NoMatches):
                screen.full_refresh()
        self.update_status()

    def update_status(self) -> None:
        screen = self.active_screen()
        if screen is None:
            return
        try:
            bar = screen.query_one(StatusBar)
        except NoMatches:
            return
        store = self.store
        sep = (" │ ", "dim")
        text = Text.assemble(
            ("paas ", "bold"),
            screen.VIEW_NAME,
            sep,
            ("● ", "green" if store.connected else "red"),
            store.status,
        )
        if store.connected and self.backend.label and self.size.width >= NARROW:
            text.append(f" {self.backend.label}", style="dim")
        text.append_text(
            Text.assemble(
                sep,
                "app ",
                (self.current_app or "-", "bold"),
                sep,
                f"{len(store.apps)} apps",
                sep,
                f"events {store.events:,}",
            )
        )
        if store.dropped:
            text.append_text(Text.assemble(sep, (f"dropped {store.dropped:,}", "yellow")))
        bar.show(text)

    # ---- navigation -------------------------------------------------------------------------
    def set_app(self, name: str | None) -> None:
        if name == self.current_app:
            return
        self.current_app = name
        self.refresh_screen()

    def action_cycle_app(self, step: int) -> None:
        names = self.store.app_names()
        if not names:
            return
        index = names.index(self.current_app) if self.current_app in names else -step
        self.set_app(names[(index + step) % len(names)])

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen(self.BINDINGS))

    def action_go_back(self) -> None:
        if self.current_mode != "overview":
            self.switch_mode("overview")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Scale web up", "Add one web dyno (+)", lambda: self.action_scale(1))
        yield SystemCommand("Scale web down", "Remove one web dyno (-)", lambda: self.action_scale(-1))
        yield SystemCommand("Restart dyno", "Restart the selected dyno (r)", self.action_restart)
        yield SystemCommand("Stop dyno", "Stop the selected dyno (s)", self.action_stop)
        yield SystemCommand("Crash dyno", "SIGKILL the selected dyno to watch H10/H13 (c)", self.action_crash)
        yield SystemCommand("Toggle maintenance", "Maintenance mode on/off (m)", self.action_maintenance)
        yield SystemCommand("Roll back", "Roll back to the previous release (b)", self.action_rollback)
        yield SystemCommand("Open app in browser", "Open the app's URL (o)", self.action_open)
        for view in VIEWS:
            yield SystemCommand(
                f"View: {view.mode}",
                f"Switch to the {view.mode} view ({view.key})",
                lambda m=view.mode: self.switch_mode(m),
            )
        for name in self.store.app_names():
            yield SystemCommand(
                f"App: {name}", f"Make {name} the current app", lambda n=name: self.set_app(n)
            )

    # ---- actions (one key each) -------------------------------------------------------------
    def target_dyno(self) -> str | None:
        """The selected dyno on screens that select one, else the first web dyno that is up."""
        screen = self.screen
        if isinstance(screen, PaasScreen):
            chosen = screen.selected_dyno()
            if chosen:
                return chosen
        state = self.store.apps.get(self.current_app or "")
        if state is None:
            return None
        dynos = state.sorted_dynos()
        for d in dynos:
            if d.type == "web" and d.state == "up":
                return d.name
        return dynos[0].name if dynos else ("web.1" if state.formation.get("web", (0, ""))[0] else None)

    def _need_app(self) -> str | None:
        if not self.current_app:
            self.notify("No app selected.", severity="warning")
        return self.current_app

    def _run(self, what: str, method: str, path: str, body: Any = None, done: str | None = None) -> None:
        async def call() -> None:
            try:
                await self.backend.request(method, path, body)
            except ApiError as exc:
                self.notify(f"{what}: {exc.message}", severity="error", timeout=6)
                self.actions_done.append(f"failed: {what}: {exc.message}")
                return
            message = done or f"{what}... done"
            self.actions_done.append(message)
            self.notify(message, timeout=3)

        self.run_worker(call(), group="actions")

    def action_scale(self, delta: int) -> None:
        app = self._need_app()
        if not app:
            return
        state = self.store.app(app)
        quantity, size = state.formation.get("web", (0, "standard-1x"))
        if "web" not in state.formation:
            self.notify(f"{app} has no web process type.", severity="warning")
            return
        target = max(0, quantity + delta)
        if target == quantity:
            return
        state.formation["web"] = (target, size)  # optimistic: quick presses add up; the event confirms
        self.store.changed.add(f"dynos:{app}")
        self._run(
            "Scaling dynos",
            "PATCH",
            f"/apps/{app}/formation",
            {"updates": [{"type": "web", "quantity": target}]},
            f"Scaling dynos... done, now running web at {target}:{size}",
        )

    def _dyno_action(self, verb: str, method: str, suffix: str) -> None:
        app = self._need_app()
        dyno = self.target_dyno() if app else None
        if not app:
            return
        if not dyno:
            self.notify("No dyno to act on.", severity="warning")
            return
        self._run(f"{verb} {dyno}", method, f"/apps/{app}/dynos/{dyno}{suffix}")

    def action_restart(self) -> None:
        self._dyno_action("Restarting", "DELETE", "")

    def action_stop(self) -> None:
        self._dyno_action("Stopping", "POST", "/actions/stop")

    def action_crash(self) -> None:
        self._dyno_action("Crashing (SIGKILL)", "POST", "/actions/kill")

    def action_maintenance(self) -> None:
        app = self._need_app()
        if not app:
            return
        on = not self.store.app(app).maintenance
        self.store.app(app).maintenance = on
        self._run(
            f"{'Enabling' if on else 'Disabling'} maintenance mode for {app}",
            "PATCH",
            f"/apps/{app}",
            {"maintenance": on},
        )

    def action_rollback(self) -> None:
        app = self._need_app()
        if not app:
            return
        screen = self.screen
        release = screen.selected_release() if isinstance(screen, PaasScreen) else None
        if release:
            self._run(
                f"Rolling back {app} to {release}",
                "POST",
                f"/apps/{app}/releases",
                {"release": release.lstrip("v")},
            )
        else:
            self._run(f"Rolling back {app}", "POST", f"/apps/{app}/actions/rollback")

    def action_open(self) -> None:
        app = self._need_app()
        if not app:
            return
        url = self.store.app(app).web_url
        if not url:
            self.notify(f"{app} has no web URL yet.", severity="warning")
            return
        self.open_url(url)
        self.actions_done.append(f"opened {url}")
        self.notify(f"Opening {url}", timeout=3)
