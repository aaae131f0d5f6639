"""Pipelines: every pipeline's apps by stage, review apps with their branch and state.

Review apps come and go with pushes (and go by themselves when stale), so the view reloads
every few seconds while it is shown and whenever an app is created or destroyed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.screens.base import PaasScreen

RELOAD_EVERY = 3  # seconds, while the view is shown
STATUS_STYLE = {"created": "green", "creating": "yellow", "deleting": "yellow", "errored": "bold red"}
COLUMNS = ("Pipeline", "Stage", "App", "Review app of", "Status", "Web URL")


def pipeline_rows(
    pipeline: str, couplings: list[dict[str, Any]], reviews: list[dict[str, Any]]
) -> list[tuple[str | Text, ...]]:
    """One row per app of the pipeline, in stage order (the API's), review apps with their branch."""
    by_app = {r["app"]["name"]: r for r in reviews}
    rows: list[tuple[str | Text, ...]] = []
    for c in couplings:
        name = str(c["app"]["name"])
        review = by_app.pop(name, None)
        branch = str(review["branch"]) if review else ""
        status = str(review["status"]) if review else ""
        url = str(review["web_url"]) if review else ""
        rows.append(
            (pipeline, str(c["stage"]), name, branch, Text(status, style=STATUS_STYLE.get(status, "")), url)
        )
    for name, review in by_app.items():  # being made: no coupling yet
        status = str(review["status"])
        rows.append((pipeline, "review", name, str(review["branch"]), Text(status, style="yellow"), ""))
    return rows


class PipelinesScreen(PaasScreen):
    VIEW_NAME = "pipelines"
    AUTO_FOCUS = "#pipelines"

    _seconds = 0

    def body(self) -> Iterable[Widget]:
        with Vertical(id="pipelines-body"):
            table: DataTable[Any] = DataTable(id="pipelines", cursor_type="row")
            table.border_title = "Pipelines  (review apps: git push paas <branch>)"
            yield table
            yield Static(id="pipelines-info")

    def on_mount(self) -> None:
        table = self.query_one("#pipelines", DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)

    def full_refresh(self) -> None:
        self.load()

    def on_tick(self, changes: set[str]) -> None:
        if "apps" in changes:
            self.load()

    def on_second(self) -> None:
        self._seconds += 1
        if self._seconds % RELOAD_EVERY == 0:
            self.load()

    @work(group="pipelines", exclusive=True)
    async def load(self) -> None:
        info = self.query_one("#pipelines-info", Static)
        try:
            rows, reviews = await self._rows()
        except ApiError as exc:
            info.update(Text(f"Pipelines not available: {exc.message}", style="yellow"))
            return
        table = self.query_one("#pipelines", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)
        if not rows:
            info.update(
                Text("No pipelines yet. Create one with `paas pipelines:create NAME -a APP`.", style="dim")
            )
            return
        info.update(Text(f"{len(rows)} apps, {reviews} review apps.", style="dim"))

    async def _rows(self) -> tuple[list[tuple[str | Text, ...]], int]:
        request = self.paas.backend.request
        rows: list[tuple[str | Text, ...]] = []
        reviews = 0
        for p in await request("GET", "/pipelines") or []:
            name = str(p["name"])
            couplings = await request("GET", f"/pipelines/{name}/pipeline-couplings") or []
            review_apps = await request("GET", f"/pipelines/{name}/review-apps") or []
            reviews += len(review_apps)
            rows.extend(pipeline_rows(name, couplings, review_apps))
        return rows, reviews
