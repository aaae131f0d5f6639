"""Overview: every app with formation, dyno states, release, request and error sparklines,
and the router's errors counted by code. Cells are updated in place, never rebuilt.

At any width: the apps table drops Formation and the error sparkline below 110 cells (the
Dynos column still counts them by state) and draws narrower sparklines; below NARROW columns
the dynos pane folds away (the app view, `2`, has the dynos in full)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable

from tui.codes import HELP
from tui.model import AppState
from tui.screens.base import PaasScreen
from tui.screens.format import STATE_STYLE, ago, state_text
from tui.widgets.fit_table import Col, FitTable
from tui.widgets.lines import code_style
from tui.widgets.spark import spark

APP_COLUMNS = ("App", "Rel", "Formation", "Dynos", "Req/s", "Requests (60s)", "Errors (60s)", "Err%", "Codes")
OPTIONAL = {"Formation": 110, "Errors (60s)": 110}  # the apps table's width needed to show them
SPARK_WIDTH = 20
SPARK_NARROW = 10
WIDE_TABLE = 150  # from this width on, 20-cell sparklines fit
STATE_ORDER = ("up", "starting", "crashed", "stopping", "down")


class OverviewScreen(PaasScreen):
    VIEW_NAME = "overview"
    AUTO_FOCUS = "#apps"

    def body(self) -> Iterable[Widget]:
        apps = FitTable(
            [Col(c, OPTIONAL.get(c, 0)) for c in APP_COLUMNS],
            id="apps",
            cursor_type="row",
            zebra_stripes=True,
            cursor_foreground_priority="renderable",
        )
        apps.border_title = "Apps  (enter: open · [ ]: switch app)"
        codes: DataTable[Any] = DataTable(id="codes", cursor_type="row")
        codes.border_title = "Router errors by code"
        dynos: DataTable[Any] = DataTable(id="overview-dynos", cursor_type="none")
        dynos.border_title = "Dynos"
        yield apps
        with Horizontal(id="overview-bottom"):
            yield codes
            yield dynos

    def __init__(self) -> None:
        super().__init__()
        self._cells: dict[tuple[str, str], Any] = {}
        self._code_rows: list[Any] | None = None
        self._dyno_rows: list[Any] | None = None

    def on_mount(self) -> None:
        codes = self.query_one("#codes", DataTable)
        for col in ("Code", "Meaning", "Count", "Apps"):
            codes.add_column(col, key=col)
        dynos = self.query_one("#overview-dynos", DataTable)
        for col in ("Dyno", "State", "Since", "Release"):
            dynos.add_column(col, key=col)

    # ---- hooks ------------------------------------------------------------------------------
    def full_refresh(self) -> None:
        self._sync_rows()
        self._update_live()
        self._update_dynos()
        self._update_codes()
        self._select_current()

    def on_tick(self, changes: set[str]) -> None:
        if not changes:
            return
        if "apps" in changes or any(c.startswith(("dynos:", "release:")) for c in changes):
            self._sync_rows()
            self._update_dynos()
        if "stats" in changes:
            self._update_live()
            self._update_codes()

    def on_second(self) -> None:
        self._update_live()
        self._update_codes()
        self._update_dynos()

    # ---- apps table -------------------------------------------------------------------------
    def _set(self, table: DataTable[Any], row: str, col: str, value: Any) -> None:
        key = (row, col)
        if self._cells.get(key) != value:
            self._cells[key] = value
            table.update_cell(row, col, value)

    def _sync_rows(self) -> None:
        table = self.query_one("#apps", FitTable)
        store = self.paas.store
        existing = {str(k.value) for k in table.rows}
        for gone in existing - set(store.apps):
            table.remove_row(gone)
            for col in APP_COLUMNS:
                self._cells.pop((gone, col), None)
        for name in store.app_names():
            state = store.apps[name]
            static = {
                "App": Text(
                    name + (" (maint)" if state.maintenance else ""),
                    style="bold" if not state.maintenance else "yellow",
                ),
                "Rel": f"v{state.release}" if state.release else "-",
                "Formation": state.formation_text(),
                "Dynos": self._dyno_summary(state),
            }
            if name not in existing:
                cells = [static.get(c, "") for c in APP_COLUMNS]
                table.add_row(*cells, key=name)
                for col, value in static.items():
                    self._cells[(name, col)] = value
            else:
                for col, value in static.items():
                    self._set(table, name, col, value)

    @staticmethod
    def _dyno_summary(state: AppState) -> Text:
        counts = state.state_counts()
        if not counts:
            return Text("no dynos", style="dim")
        text = Text()
        for st in sorted(counts, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 9):
            if text:
                text.append(" ")
            text.append(f"{counts[st]} {st}", style=STATE_STYLE.get(st, ""))
        return text

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._update_live)  # sparkline widths follow the table's, once laid out

    def _update_live(self) -> None:
        table = self.query_one("#apps", FitTable)
        store = self.paas.store
        now_s = int(store.clock())
        shown = {str(k.value) for k in table.rows}
        wide = (table.size.width or self.app.size.width) >= WIDE_TABLE
        width = SPARK_WIDTH if wide else SPARK_NARROW
        for name, state in store.apps.items():
            if name not in shown:
                continue
            stats = state.stats
            reqs = stats.requests.series(now_s)
            errs = stats.errors.series(now_s)
            self._set(table, name, "Req/s", f"{stats.requests.rate(now_s):.1f}")
            self._set(table, name, "Requests (60s)", spark(reqs, width, "green"))
            self._set(table, name, "Errors (60s)", spark(errs, width, "red"))
            pct = stats.error_percent(now_s)
            self._set(table, name, "Err%", Text(f"{pct:.1f}", style="bold red" if pct >= 5 else ""))
            self._set(table, name, "Codes", self._codes_text(stats.codes, 2 if self.narrow else 4))

    @staticmethod
    def _codes_text(codes: Counter[str], most: int) -> Text:
        text = Text()
        for code, count in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:most]:
            if text:
                text.append(" ")
            text.append(code, style=code_style(code))
            text.append(f"×{count}")
        return text

    # ---- bottom panes -----------------------------------------------------------------------
    def _update_codes(self) -> None:
        table = self.query_one("#codes", DataTable)
        totals: Counter[str] = Counter()
        where: dict[str, set[str]] = {}
        for name, state in self.paas.store.apps.items():
            for code, count in state.stats.codes.items():
                totals[code] += count
                where.setdefault(code, set()).add(name)
        rows = [
            (
                Text(code, style=code_style(code)),
                HELP[code].title if code in HELP else "",
                str(count),
                ", ".join(sorted(where[code])),
            )
            for code, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if rows == self._code_rows:
            return
        self._code_rows = rows
        table.clear()
        if rows:
            table.add_rows(rows)
        else:
            table.add_row(Text("none yet", style="dim"), "", "", "")

    def _update_dynos(self) -> None:
        table = self.query_one("#overview-dynos", DataTable)
        state = self.state
        table.border_title = f"Dynos of {state.name}" if state else "Dynos"
        now = self.paas.store.clock()
        rows = []
        if state is not None:
            for d in state.sorted_dynos():
                rows.append(
                    (
                        d.name,
                        state_text(d.state),
                        ago(now - d.since) if d.since else "-",
                        f"v{d.release}" if d.release else "-",
                    )
                )
        if rows == self._dyno_rows:
            return
        self._dyno_rows = rows
        table.clear()
        table.add_rows(rows)

    def _select_current(self) -> None:
        table = self.query_one("#apps", DataTable)
        current = self.paas.current_app
        if current is None:
            return
        try:
            index = table.get_row_index(current)
        except Exception:
            return
        if table.cursor_row != index:
            table.move_cursor(row=index)

    # ---- events -----------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "apps" and event.row_key.value is not None:
            self.paas.set_app(str(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "apps" and event.row_key.value is not None:
            self.paas.set_app(str(event.row_key.value))
            self.paas.switch_mode("app")
