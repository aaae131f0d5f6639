"""Which API call each action key makes, and on which dyno/release (stubbed daemon, no ports)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from tests.support.tui_backend import StaticBackend
from tests.unit.test_tui_snapshots import ROUTES, T, _ready
from tui.app import PaasApp
from tui.client import ApiError

SIZE = (140, 40)


def make(routes: dict[str, Any] | None = None) -> tuple[PaasApp, StaticBackend]:
    backend = StaticBackend({**ROUTES, **(routes or {})}, [])
    return PaasApp(backend, clock=lambda: T, freeze_gc=False), backend


def sent(backend: StaticBackend) -> list[tuple[str, str, Any]]:
    return [c for c in backend.calls if c[0] != "GET"]


async def test_scale_keys_patch_the_formation_and_add_up() -> None:
    app, backend = make()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await pilot.press("plus", "plus", "minus")
        await pilot.pause(0.2)
        bodies = [(m, p, b) for m, p, b in sent(backend)]
        assert bodies == [
            ("PATCH", "/apps/hello/formation", {"updates": [{"type": "web", "quantity": 3}]}),
            ("PATCH", "/apps/hello/formation", {"updates": [{"type": "web", "quantity": 4}]}),
            ("PATCH", "/apps/hello/formation", {"updates": [{"type": "web", "quantity": 3}]}),
        ]
        # never below zero
        app.store.apps["hello"].formation["web"] = (0, "standard-1x")
        backend.calls.clear()
        await pilot.press("minus")
        await pilot.pause(0.1)
        assert sent(backend) == []


async def test_dyno_keys_act_on_the_selected_dyno() -> None:
    app, backend = make()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        # outside the app view: the first web dyno that is up
        await pilot.press("r")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("DELETE", "/apps/hello/dynos/web.1", None)
        await pilot.press("2")
        await pilot.pause(0.3)
        table = app.screen.query_one("#dynos", DataTable)
        table.focus()
        await pilot.press("down", "down")  # worker.1
        await pilot.press("s")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("POST", "/apps/hello/dynos/worker.1/actions/stop", None)
        await pilot.press("up")  # web.2
        await pilot.press("c")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("POST", "/apps/hello/dynos/web.2/actions/kill", None)
        assert app.actions_done[-1] == "Crashing (SIGKILL) web.2... done"


async def test_router_line_selection_targets_its_dyno() -> None:
    app, backend = make()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        app.store.apply(
            {
                "kind": "log.line",
                "app": "hello",
                "data": {
                    "line": {
                        "ts": "2023-11-14T22:13:10.000000+00:00",
                        "app": "hello",
                        "source": "heroku",
                        "dyno": "router",
                        "text": 'at=error code=H13 desc="Connection closed without response" method=GET path="/" '
                        'host=hello.localhost request_id=a fwd="1.2.3.4" dyno=web.2 connect=0ms service=5ms '
                        "status=503 bytes=0 protocol=http",
                    }
                },
            }
        )
        await pilot.press("3")
        await pilot.pause(0.3)
        await pilot.press("up", "c")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("POST", "/apps/hello/dynos/web.2/actions/kill", None)


async def test_rollback_to_the_highlighted_release_or_the_previous_one() -> None:
    app, backend = make()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await pilot.press("b")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("POST", "/apps/hello/actions/rollback", None)
        await pilot.press("2")
        await pilot.pause(0.3)
        releases = app.screen.query_one("#releases", DataTable)
        releases.focus()
        await pilot.press("down", "enter")  # v2
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("POST", "/apps/hello/releases", {"release": "2"})


async def test_maintenance_open_and_errors_are_reported() -> None:
    app, backend = make({"PATCH /apps/hello": ApiError(422, "Maintenance cannot be changed right now.")})
    opened: list[str] = []
    app.open_url = lambda url, **kw: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await pilot.press("m")
        await pilot.pause(0.1)
        assert sent(backend)[-1] == ("PATCH", "/apps/hello", {"maintenance": True})
        assert app.actions_done[-1] == (
            "failed: Enabling maintenance mode for hello: Maintenance cannot be changed right now."
        )
        await pilot.press("o")
        assert opened == ["http://hello.localhost:5000/"]
        await pilot.press("right_square_bracket")
        assert app.current_app == "shop"
        await pilot.press("left_square_bracket")
        assert app.current_app == "hello"


async def test_missing_endpoints_show_not_available() -> None:
    routes = {k: v for k, v in ROUTES.items() if "/dynos" not in k and "kafka" not in k}
    app = PaasApp(StaticBackend(routes, []), clock=lambda: T, freeze_gc=False)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        assert app.store.apps["hello"].dynos_endpoint is False
        await pilot.press("2")
        await pilot.pause(0.3)
        title = str(app.screen.query_one("#app-title").render())
        assert "not available" in title
        await pilot.press("5")
        await pilot.pause(0.3)
        info = app.screen.query_one("#kafka-info")
        assert "Kafka not available" in str(info.render())
