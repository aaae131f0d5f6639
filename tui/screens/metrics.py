"""Metrics (7): Heroku's Metrics tab for the current app, as sparklines.

Response time p50/p95/p99/max, throughput by status class, router errors by H-code, memory per
dyno against its quota, dyno load, and the events (deploys, config changes, scaling, restarts,
crashes) marked under the charts and listed below them. Read from `GET /apps/{app}/metrics`
when the view opens and every REFRESH seconds while it shows; `w` picks the time window.
At any width the charts take what is left beside the labels and figures; rows that do not fit
the height scroll.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tui.client import ApiError
from tui.screens.base import PaasScreen
from tui.widgets.metrics_rows import render

REFRESH = 5  # seconds between fetches while the view shows (the server's steps are ≥ 1 s)
WINDOWS = ((3600, "1 h"), (900, "15 min"), (300, "5 min"))


class MetricsScreen(PaasScreen):
    VIEW_NAME = "metrics"
    AUTO_FOCUS = "#metrics-scroll"
    BINDINGS = [Binding("w", "window", "Window")]

    def __init__(self) -> None:
        super().__init__()
        self.window_index = 0
        self.data: dict[str, Any] | None = None
        self._seconds = 0

    def body(self) -> Iterable[Widget]:
        yield Static(id="metrics-title")
        with VerticalScroll(id="metrics-scroll"):
            yield Static(id="metrics-rows")

    @property
    def window(self) -> int:
        return WINDOWS[self.window_index][0]

    def full_refresh(self) -> None:
        self.load()

    def on_second(self) -> None:
        self._seconds += 1
        if self._seconds % REFRESH == 0:
            self.load()

    def on_resize(self, event: events.Resize) -> None:
        self.draw()

    def action_window(self) -> None:
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        self.load()

    @work(group="metrics", exclusive=True)
    async def load(self) -> None:
        app = self.paas.current_app
        title = self.query_one("#metrics-title", Static)
        if app is None:
            self.data = None
            title.update(Text("No app yet: create one with `paas apps:create`.", style="dim"))
            self.query_one("#metrics-rows", Static).update("")
            return
        try:
            data = await self.paas.backend.request(
                "GET", f"/apps/{app}/metrics", params={"window": self.window}
            )
        except ApiError as exc:
            self.data = None
            title.update(Text(f"Metrics not available for {app}: {exc.message}", style="yellow"))
            self.query_one("#metrics-rows", Static).update("")
            return
        self.data = data if isinstance(data, dict) and data.get("app") == app else None
        self.draw()

    def draw(self) -> None:
        data = self.data
        if data is None:
            return
        label = WINDOWS[self.window_index][1]
        step = int(data.get("resolution") or 60)
        self.query_one("#metrics-title", Static).update(
            Text.assemble(
                (f"{data.get('app')}", "bold"),
                f"  last {label}, one step per {'minute' if step == 60 else f'{step} s'}",
                ("  w: window", "dim"),
            )
        )
        width = self.query_one("#metrics-scroll", VerticalScroll).content_region.width or self.app.size.width
        self.query_one("#metrics-rows", Static).update(render(data, width - 1))
