"""Dataclips: the list, run the highlighted one (enter), show its table. Thin on purpose: the
dataclips web page is the full editor; this is for a glance while the platform runs."""

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

SHOW_ROWS = 500


class DataclipsScreen(PaasScreen):
    VIEW_NAME = "dataclips"
    AUTO_FOCUS = "#clips"

    def body(self) -> Iterable[Widget]:
        with Vertical(id="clips-body"):
            clips: DataTable[Any] = DataTable(id="clips", cursor_type="row")
            clips.border_title = "Dataclips  (enter: run)"
            yield clips
            yield Static(id="clip-info")
            result: DataTable[Any] = DataTable(id="clip-result")
            result.border_title = "Result"
            yield result

    def on_mount(self) -> None:
        clips = self.query_one("#clips", DataTable)
        for col in ("Id", "Title", "Target", "Ver", "Updated"):
            clips.add_column(col, key=col)

    def full_refresh(self) -> None:
        self.load_list()

    @work(group="clips", exclusive=True)
    async def load_list(self) -> None:
        table = self.query_one("#clips", DataTable)
        info = self.query_one("#clip-info", Static)
        try:
            clips = await self.paas.backend.request("GET", "/dataclips/api/clips")
        except ApiError as exc:
            table.clear()
            info.update(Text(f"Dataclips not available: {exc.message}", style="yellow"))
            return
        table.clear()
        for c in clips or []:
            table.add_row(
                str(c.get("id")),
                str(c.get("title") or ""),
                str(c.get("target") or ""),
                f"v{c.get('version')}",
                str(c.get("updated_at") or "")[:19].replace("T", " "),
                key=str(c.get("id")),
            )
        if not clips:
            info.update(
                Text(
                    "No dataclips yet. Create one with `paas dataclips:create` or on the web page.",
                    style="dim",
                )
            )
        else:
            info.update(Text(f"{len(clips)} dataclips. Enter runs the highlighted one.", style="dim"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "clips" and event.row_key.value is not None:
            self.run_clip(str(event.row_key.value))

    @work(group="clip-run", exclusive=True)
    async def run_clip(self, clip_id: str) -> None:
        info = self.query_one("#clip-info", Static)
        info.update(Text(f"Running dataclip {clip_id}…", style="yellow"))
        try:
            data = await self.paas.backend.request(
                "POST", f"/dataclips/api/clips/{clip_id}/run", {"limit": SHOW_ROWS}
            )
        except ApiError as exc:
            info.update(Text(f"Dataclip {clip_id} failed: {exc.message}", style="bold red"))
            return
        self.show_result(data.get("clip") or {}, data.get("result") or {})

    def show_result(self, clip: dict[str, Any], result: dict[str, Any]) -> None:
        info = self.query_one("#clip-info", Static)
        table = self.query_one("#clip-result", DataTable)
        table.clear(columns=True)
        fields = [str(f) for f in result.get("fields") or []]
        for i, name in enumerate(fields):
            table.add_column(name, key=f"c{i}")
        for row in result.get("values") or []:
            table.add_row(*["" if v is None else str(v) for v in row])
        text = Text.assemble((str(clip.get("title") or "dataclip"), "bold"), "  ")
        text.append(f"{result.get('rows', 0)} rows", style="green")
        if result.get("truncated"):
            text.append(" (truncated)", style="yellow")
        if result.get("duration_ms") is not None:
            text.append(f" in {result['duration_ms']} ms", style="dim")
        sql = " ".join(str(clip.get("sql") or "").split())
        if sql:
            text.append(f"\n{sql[:200]}", style="dim italic")
        info.update(text)
        table.border_title = f"Result · {result.get('shown', len(result.get('values') or []))} shown"
