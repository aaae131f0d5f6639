"""The router log's columns at any width, and the TUI folding and unfolding with the terminal.

Pure layout first (`router_columns.fit` and `cells`), then the app on the static demo backend:
folding below 120 columns, a screen catching up on a resize it missed, the full-line view and
the copy key. (The same against a real daemon: tests/integration/test_tui_pilot.py.)
"""

from __future__ import annotations

import io
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from tests.unit.test_tui_model import H13, H27, H80, OK, entry
from tests.unit.test_tui_snapshots import demo_app, keys
from tui.screens.base import NARROW, width_classes
from tui.screens.line import LineScreen
from tui.screens.logs import RouterScreen
from tui.widgets.code_panel import CodePanel
from tui.widgets.fit_table import FitTable
from tui.widgets.renderers import RouterTable, WholeLines
from tui.widgets.router_columns import PATH_ROOM, cells, cut, fit, header, layout_width
from tui.widgets.stream_log import StreamLog

ESSENTIAL = ["time", "code", "status", "method", "path", "dyno", "service"]


def keys_of(width: int) -> list[str]:
    return [p.column.key for p in fit(width)]


def text(parts: list[tuple[str, str]]) -> str:
    return "".join(t for t, _ in parts)


# ---- the columns -----------------------------------------------------------------------------
def test_columns_fill_the_width_exactly() -> None:
    for width in range(33, 260):
        layout = fit(width)
        assert layout_width(layout) == width
        for sample in (H13, OK, H80, H27):
            assert cell_len(text(cells(entry(sample), layout))) == width, (width, sample)
        assert cell_len(text(header(layout))) == width


def test_80_columns_keep_every_field_a_reader_scans_for() -> None:
    # 80 columns less the border and the scrollbar's column
    assert keys_of(77) == ESSENTIAL
    path = next(p for p in fit(77) if p.column.key == "path")
    assert path.width >= 24
    row = text(cells(entry(H13), fit(77)))
    for value in ("10:11:12.345", "H13", "503", "GET", "web.2", "5ms"):
        assert value in row
    assert "at=info metho" not in row and "heroku[router]" not in row


def test_wider_views_add_fields_in_order_and_the_path_keeps_its_room() -> None:
    seen: list[list[str]] = [keys_of(w) for w in range(77, 260)]
    for shown in seen:
        assert set(ESSENTIAL) <= set(shown)
    widest = keys_of(259)
    assert {"desc", "connect", "bytes", "request_id"} <= set(widest)
    for width in range(77, 260):
        layout = fit(width)
        path = next(p for p in layout if p.column.key == "path")
        assert path.width >= PATH_ROOM or keys_of(width) == ESSENTIAL
        # extras come in priority order: never the request id without the desc before it
        shown = keys_of(width)
        assert "request_id" not in shown or "desc" in shown


def test_very_narrow_views_shed_method_service_dyno_and_the_milliseconds() -> None:
    assert keys_of(60) == ESSENTIAL and fit(60)[0].width == 8  # HH:MM:SS first
    assert keys_of(50) == ["time", "code", "status", "path", "dyno", "service"]
    assert keys_of(40) == ["time", "code", "status", "path"]


def test_cells_cut_long_values_with_an_ellipsis_and_keep_wide_characters_aligned() -> None:
    assert cut("/a/very/long/path", 8) == "/a/very…"
    assert cut("503", 6) == "503   " and cut("5ms", 7, right=True) == "    5ms"
    assert cell_len(cut("/日本語のパス/とても長い", 9)) == 9
    long_path = OK.replace('path="/"', 'path="/' + "x" * 300 + '"')
    row = text(cells(entry(long_path), fit(77)))
    assert cell_len(row) == 77 and "…" in row and row.rstrip().endswith("3ms")


def test_a_line_that_reached_no_dyno_leaves_its_cells_empty() -> None:
    layout = fit(77)
    row = cells(entry(H80), layout)
    by_key = {p.column.key: part for p, part in zip(layout, row[::2], strict=True)}
    assert by_key["code"][0].strip() == "H80" and by_key["status"][0].strip() == "503"
    assert by_key["dyno"][0].strip() == "" and by_key["service"][0].strip() == ""


def test_the_renderer_relayouts_only_when_the_width_changes() -> None:
    table = RouterTable()
    assert table.layout(77) is True
    assert table.layout(77) is False
    assert text(table.header()).startswith("TIME")
    assert table.layout(150) is True and "DESC" in text(table.header())
    whole = WholeLines(whole_router=True)
    assert "request_id=abc" in text(whole(entry(H13)))
    assert "request_id=" not in text(WholeLines()(entry(H13)))


def test_breakpoint_classes() -> None:
    assert width_classes(80) == {"-narrow": True, "-medium": False, "-wide": False}
    assert width_classes(NARROW)["-medium"] and width_classes(NARROW - 1)["-narrow"]
    assert width_classes(200)["-wide"]


# ---- the app, folding with the terminal --------------------------------------------------------
def plain(widget: Any) -> str:
    """What a Static shows, as text (wrapped at 200 columns)."""
    assert isinstance(widget, Static)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def shown_row(log: StreamLog, y: int) -> str:
    return "".join(segment.text for segment in log.render_line(y))


async def test_the_code_pane_folds_below_120_columns_and_comes_back() -> None:
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await keys("3", "up", "up", "up", "up")(pilot)
        screen = app.screen
        assert isinstance(screen, RouterScreen)
        panel = screen.query_one(CodePanel)
        info = screen.query_one("#stream-info")
        assert panel.display and panel.region.width >= 36 and panel.code == "H13"
        assert "H13" not in plain(info)

        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        assert screen.has_class("-narrow") and not panel.display
        log = screen.query_one(StreamLog)
        assert log.region.width == 80  # the log has the whole width
        assert "Connection closed without response" in plain(info)
        assert shown_row(log, 0).split() == ["TIME", "CODE", "STATUS", "METHOD", "PATH", "DYNO", "SERVICE"]
        assert shown_row(log, 1 + 3).split() == ["22:13:11.002", "H13", "503", "GET", "/", "web.2", "5ms"]

        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert panel.display and not screen.has_class("-narrow")


async def test_a_folded_pane_explains_the_selected_code_once_it_unfolds() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("3", "up", "up", "up", "up")(pilot)
        panel = app.screen.query_one(CodePanel)
        assert not panel.display and panel.code == "H13"  # kept for the info line, not rendered
        await pilot.resize_terminal(140, 40)
        await pilot.pause(0.3)
        assert panel.display and panel.border_title == "H13 explained"
        assert "accepted the TCP connection" in plain(panel)


async def test_a_screen_in_the_background_catches_up_with_a_resize() -> None:
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await keys("3", "1")(pilot)  # the router screen is built, then left
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        await pilot.press("3")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, RouterScreen) and screen.has_class("-narrow")
        assert not screen.query_one(CodePanel).display
        # and the overview's dynos pane folded too, its table lost its optional columns
        await pilot.press("1")
        await pilot.pause(0.3)
        assert not app.screen.query_one("#overview-dynos").display
        apps = app.screen.query_one("#apps", FitTable)
        titles = [str(c.label) for c in apps.ordered_columns]
        assert "Formation" not in titles and {"App", "Dynos", "Req/s", "Err%"} <= set(titles)


async def test_enter_shows_the_whole_line_and_y_copies_it_as_paas_logs_prints_it() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("3", "up", "up", "up", "up")(pilot)
        selected = app.screen.query_one(StreamLog).selected
        assert selected is not None and selected.code == "H13"
        expected = selected.formatted()
        assert expected.startswith("2023-11-14T22:13:11.002000+00:00 heroku[router]: at=error code=H13 ")

        await pilot.press("y")  # straight from the log
        assert app.clipboard == expected

        await pilot.press("enter")
        await pilot.pause(0.2)
        modal = app.screen
        assert isinstance(modal, LineScreen)
        assert plain(modal.query_one("#line-text")).split() == expected.split()
        details = plain(modal.query_one("#line-details"))
        assert "Connection closed without response" in details and "request_id" in details
        app.copy_to_clipboard("")
        await pilot.press("y")
        assert app.clipboard == expected
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, RouterScreen)


async def test_enter_while_following_shows_the_newest_line_and_the_filter_keeps_enter() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("3")(pilot)
        log = app.screen.query_one(StreamLog)
        assert log.following
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LineScreen) and app.screen.entry is log.rows[-1]
        await pilot.press("escape")
        await pilot.press("slash", *"404", "enter")  # enter applies the filter, opens nothing
        await pilot.pause(0.2)
        assert isinstance(app.screen, RouterScreen)
        assert not app.screen.query_one("#filter", Input).has_focus
        assert [e.fields["status"] for e in log.rows if e.fields] == ["404"]


async def test_w_switches_the_router_log_to_whole_lines_and_back() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("3", "w")(pilot)
        log = app.screen.query_one(StreamLog)
        assert isinstance(log.renderer, WholeLines) and log.header_rows == 0
        assert shown_row(log, 0).startswith("22:13:10.400 heroku[router]: at=info method=GET")
        assert log.virtual_size.width > 80  # whole lines scroll sideways
        await pilot.press("w")
        await pilot.pause(0.1)
        assert isinstance(log.renderer, RouterTable) and log.header_rows == 1
        assert log.virtual_size.width == 77  # 80 less the border and the scrollbar's column


async def test_app_view_reflows_and_tables_keep_the_columns_that_fit() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("2", pause=0.5)(pilot)
        screen = app.screen
        dynos = screen.query_one("#dynos", DataTable)
        releases = screen.query_one("#releases", DataTable)
        config = screen.query_one("#config", DataTable)
        assert dynos.region.width == 80  # across the top
        assert releases.region.x == 0 and config.region.x == releases.region.right
        for table in (dynos, releases, config):
            assert table.region.right <= 80 and table.virtual_size.width <= table.region.width
        assert "Port / container" not in [str(c.label) for c in dynos.ordered_columns]
        await pilot.resize_terminal(200, 50)
        await pilot.pause(0.3)
        assert "Port / container" in [str(c.label) for c in dynos.ordered_columns]
        assert dynos.region.width < 200 and releases.region.y == dynos.region.y
