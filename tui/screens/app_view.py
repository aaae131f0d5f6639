"""One app: dynos (state, since, memory against quota with the R14 line, port or container),
releases (enter or `b` rolls back to the highlighted one), add-ons and config (masked).

The four tables share one grid that tui/paas.tcss reflows below NARROW columns (dynos across
the top, releases beside add-ons and config); each table drops its optional columns when
its own width is short (FitTable)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.screens.base import PaasScreen
from tui.screens.format import ago, mask, memory_text, state_text
from tui.widgets.fit_table import Col, FitTable

REFETCH_MIN_INTERVAL = 1.0  # releases/config/add-ons are re-read on events, at most once a second
# Columns, and the table width each optional one needs.
DYNO_COLUMNS = (
    Col("Dyno"), Col("State"), Col("Since"), Col("Memory"), Col("Port / container", 90), Col("Rel", 70),
)  # fmt: skip
RELEASE_COLUMNS = (Col("Rel"), Col("Change"), Col("Status", 48), Col("When"))
ADDON_COLUMNS = (Col("Add-on"), Col("Plan"), Col("State", 50))
CONFIG_COLUMNS = (Col("Key"), Col("Value"))


class AppScreen(PaasScreen):
    VIEW_NAME = "app"
    AUTO_FOCUS = "#dynos"

    def body(self) -> Iterable[Widget]:
        yield Static(id="app-title")
        with Container(id="app-grid"):
            dynos = FitTable(DYNO_COLUMNS, id="dynos", cursor_type="row")
            dynos.border_title = "Dynos  (r restart · s stop · c crash · +/- scale web)"
            yield dynos
            releases = FitTable(RELEASE_COLUMNS, id="releases", cursor_type="row")
            releases.border_title = "Releases  (enter/b: roll back)"
            yield releases
            addons = FitTable(ADDON_COLUMNS, id="addons", cursor_type="row")
            addons.border_title = "Add-ons"
            yield addons
            config = FitTable(CONFIG_COLUMNS, id="config", cursor_type="row")
            config.border_title = "Config vars"
            yield config

    def __init__(self) -> None:
        super().__init__()
        self._shown_app: str | None = None
        self._dyno_rows: list[Any] = []
        self._fetched: dict[str, float] = {}
        self._pending: set[str] = set()

    # ---- hooks ------------------------------------------------------------------------------
    def full_refresh(self) -> None:
        app = self.paas.current_app
        if app != self._shown_app:
            self._shown_app = app
            for selector in ("#releases", "#addons", "#config"):
                self.query_one(selector, DataTable).clear()
            self._fetched.clear()
        self._update_title()
        self._update_dynos()
        if app:
            self.fetch({"releases", "addons", "config"})
            self.paas.refresh_dynos(app)

    def on_tick(self, changes: set[str]) -> None:
        app = self.paas.current_app
        if not app:
            return
        wanted = set()
        if f"release:{app}" in changes:
            wanted.add("releases")
        if f"config:{app}" in changes:
            wanted |= {"config", "releases"}
        if f"addons:{app}" in changes:
            wanted |= {"addons", "config"}
        self._pending |= wanted
        now = self.paas.store.clock()
        ready = {w for w in self._pending if now - self._fetched.get(w, 0) >= REFETCH_MIN_INTERVAL}
        if ready:
            self._pending -= ready
            self.fetch(ready)
        if "apps" in changes or f"release:{app}" in changes:
            self._update_title()
        if f"dynos:{app}" in changes:
            self._update_dynos()

    def on_second(self) -> None:
        self._update_dynos()  # "since" moves

    def selected_dyno(self) -> str | None:
        table = self.query_one("#dynos", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value else None

    def selected_release(self) -> str | None:
        table = self.query_one("#releases", DataTable)
        if not table.has_focus or not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "releases":
            self.paas.action_rollback()

    # ---- drawing ----------------------------------------------------------------------------
    def _update_title(self) -> None:
        title = self.query_one("#app-title", Static)
        state = self.state
        if state is None:
            title.update(
                Text("No apps yet. Create one with `paas apps:create NAME` and deploy to it.", style="dim")
            )
            return
        text = Text.assemble(("⬢ ", "magenta"), (state.name, "bold"), "  ")
        text.append(
            f"v{state.release} {state.release_desc}" if state.release else "nothing released yet",
            style="" if state.release else "dim",
        )
        text.append("  maintenance ")
        text.append(
            "on" if state.maintenance else "off", style="bold yellow" if state.maintenance else "green"
        )
        if state.web_url:
            text.append(f"  {state.web_url}", style="underline cyan")
        if state.dynos_endpoint is False:
            text.append("  (dyno details not available in this daemon)", style="dim")
        title.update(text)

    def _update_dynos(self) -> None:
        table = self.query_one("#dynos", DataTable)
        state = self.state
        now = self.paas.store.clock()
        rows = []
        if state is not None:
            for d in state.sorted_dynos():
                where = (
                    d.container[:12]
                    if d.container
                    else (f"{d.host or '127.0.0.1'}:{d.port}" if d.port else "-")
                )
                rows.append(
                    (
                        d.name,
                        (
                            d.name,
                            state_text(d.state),
                            ago(now - d.since) if d.since else "-",
                            memory_text(d.memory_bytes, d.quota_bytes),
                            where,
                            f"v{d.release}" if d.release else "-",
                        ),
                    )
                )
        self._update_autoscale(table)
        if rows == self._dyno_rows:
            return
        self._dyno_rows = rows
        selected = self.selected_dyno()
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected:
            try:
                table.move_cursor(row=table.get_row_index(selected))
            except Exception:
                pass

    def _update_autoscale(self, table: DataTable[Any]) -> None:
        """The formation's autoscaling under the dynos: range, goal and the last decision."""
        state = self.state
        text = ""
        if state is not None and state.autoscale:
            text = state.autoscale + (f" · last: {state.autoscale_last}" if state.autoscale_last else "")
        if table.border_subtitle != text:
            table.border_subtitle = text

    # ---- fetching what events only announce -------------------------------------------------
    def fetch(self, what: set[str]) -> None:
        app = self.paas.current_app
        if not app:
            return
        now = self.paas.store.clock()
        for w in what:
            self._fetched[w] = now
        self._fetch(app, frozenset(what))

    @work(group="app-fetch")
    async def _fetch(self, app: str, what: frozenset[str]) -> None:
        backend = self.paas.backend
        for part in sorted(what):
            path = {
                "releases": f"/apps/{app}/releases",
                "addons": f"/apps/{app}/addons",
                "config": f"/apps/{app}/config-vars",
            }[part]
            try:
                data = await backend.request("GET", path)
            except ApiError as exc:
                data = exc
            if app != self.paas.current_app:
                return
            getattr(self, f"_show_{part}")(data)

    def _show_releases(self, data: Any) -> None:
        table = self.query_one("#releases", DataTable)
        table.clear()
        if isinstance(data, ApiError):
            table.add_row(Text(data.message, style="red"), "", "", "")
            return
        rows = sorted(data or [], key=lambda r: -int(r.get("version") or 0))
        current = next((r.get("version") for r in rows if r.get("current")), None) or next(
            (r.get("version") for r in rows if r.get("status") == "succeeded"), None
        )
        for r in rows[:50]:
            version = r.get("version")
            status = str(r.get("status") or "")
            label = Text(f"v{version}", style="bold green" if version == current else "")
            table.add_row(
                label,
                str(r.get("description") or ""),
                Text(status, style="green" if status == "succeeded" else "yellow"),
                when(str(r.get("created_at") or "")),
                key=f"v{version}",
            )
        if data:
            self.paas.store.load_releases(self.paas.current_app or "", data)

    def _show_addons(self, data: Any) -> None:
        table = self.query_one("#addons", DataTable)
        table.clear()
        if isinstance(data, ApiError):
            table.add_row(Text(data.message, style="red"), "", "")
            return
        if not data:
            table.add_row(Text("none", style="dim"), "", "")
        for a in data or []:
            # `heroku addons` style: the service is in the add-on's name, the plan is what varies
            plan = str((a.get("plan") or {}).get("name", "")).split(":", 1)[-1]
            state = str(a.get("state") or "")
            table.add_row(
                str(a.get("name") or ""),
                plan,
                Text(state, style="green" if state == "provisioned" else "yellow"),
            )

    def _show_config(self, data: Any) -> None:
        table = self.query_one("#config", DataTable)
        table.clear()
        if isinstance(data, ApiError):
            table.add_row(Text(data.message, style="red"), "")
            return
        if not data:
            table.add_row(Text("none", style="dim"), "")
        for key in sorted(data or {}):
            table.add_row(key, Text(mask(str(data[key])), style="dim"))


def when(created_at: str) -> str:
    """`11-14 21:30` (month-day hours:minutes): short enough for a narrow releases pane; the year
    and the seconds are noise on a local platform's releases."""
    return f"{created_at[5:10]} {created_at[11:16]}" if len(created_at) >= 16 else created_at
