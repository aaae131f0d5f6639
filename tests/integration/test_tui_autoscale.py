"""The TUI's app view shows web autoscaling under the dynos (range, goal, last decision), from
the monitor at start and from `autoscale.changed` events after, against a real daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.integration.test_tui_pilot import APP, SIZE, deploy, tui_for, until, web_up
from tests.support.daemon import DaemonThread

pytestmark = pytest.mark.slow


async def test_app_view_shows_autoscaling_and_its_last_decision(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, tmp_path)
    app = tui_for(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up in the TUI")
        await pilot.press("2")
        table = app.screen.query_one("#dynos", DataTable)
        assert not table.border_subtitle

        enabled = daemon.cli("ps:autoscale:enable", "--min", "2", "--max", "10", "--p95", "500", "-a", APP)
        assert enabled.returncode == 0, enabled.stderr
        expected = "autoscaling 2..10 p95 500 ms · last: web 1 → 2 (below the minimum 2)"
        await until(pilot, lambda: table.border_subtitle == expected, what="the autoscaling line")
        await until(pilot, lambda: web_up(app) == 2, what="web.2 up in the TUI")

        disabled = daemon.cli("ps:autoscale:disable", "-a", APP)
        assert disabled.returncode == 0, disabled.stderr
        await until(pilot, lambda: not table.border_subtitle, what="the line gone")

    again = tui_for(daemon)  # a TUI started later reads the monitor from the API
    assert daemon.cli("ps:autoscale:enable", "--min", "1", "--max", "3", "-a", APP).returncode == 0
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        table = again.screen.query_one("#dynos", DataTable)
        await until(
            pilot,
            lambda: str(table.border_subtitle).startswith("autoscaling 1..3 p95 500 ms · last: "),
            what="the autoscaling line at start",
        )
