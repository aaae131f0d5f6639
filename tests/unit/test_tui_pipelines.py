"""The TUI's pipelines view (key 8): apps by stage, review apps with their branch, state and URL."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from tests.support.tui_backend import StaticBackend
from tests.unit.test_tui_snapshots import ROUTES, T, _ready
from tui.app import PaasApp

PIPELINE_ROUTES: dict[str, Any] = {
    "GET /pipelines": [{"id": "p1", "name": "shop", "created_at": "x"}],
    "GET /pipelines/shop/pipeline-couplings": [
        {"stage": "review", "app": {"name": "shop-login"}, "pipeline": {"name": "shop"}},
        {"stage": "staging", "app": {"name": "shop-staging"}, "pipeline": {"name": "shop"}},
    ],
    "GET /pipelines/shop/review-apps": [
        {
            "app": {"name": "shop-login"},
            "branch": "feature/login",
            "status": "created",
            "web_url": "http://shop-login.localhost:5000/",
        },
        {"app": {"name": "shop-cart"}, "branch": "cart", "status": "creating", "web_url": "x"},
    ],
}


def cells(table: DataTable[Any]) -> list[list[str]]:
    return [
        [c.plain if isinstance(c, Text) else str(c) for c in table.get_row_at(i)]
        for i in range(table.row_count)
    ]


async def test_the_pipelines_view_lists_review_apps_with_their_branch() -> None:
    backend = StaticBackend({**ROUTES, **PIPELINE_ROUTES}, [])
    app = PaasApp(backend, clock=lambda: T, freeze_gc=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("8")
        table = app.screen.query_one("#pipelines", DataTable)
        for _ in range(100):
            if table.row_count:
                break
            await pilot.pause(0.02)
        assert cells(table) == [
            ["shop", "review", "shop-login", "feature/login", "created", "http://shop-login.localhost:5000/"],
            ["shop", "staging", "shop-staging", "", "", ""],
            ["shop", "review", "shop-cart", "cart", "creating", ""],
        ]
        info = app.screen.query_one("#pipelines-info", Static)
        assert "3 apps, 2 review apps." in str(info.render())


async def test_without_pipelines_the_view_says_how_to_make_one() -> None:
    backend = StaticBackend({**ROUTES, "GET /pipelines": []}, [])
    app = PaasApp(backend, clock=lambda: T, freeze_gc=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        await pilot.press("8")
        info = app.screen.query_one("#pipelines-info", Static)
        for _ in range(100):
            if "pipelines:create" in str(info.render()):
                break
            await pilot.pause(0.02)
        assert "No pipelines yet. Create one with `paas pipelines:create NAME -a APP`." in str(info.render())
