"""Snapshots of every TUI screen at 80x24, 120x40 and 200x50 (pytest-textual-snapshot;
`--snapshot-update` to accept).

Deterministic on purpose: fixed terminal sizes, a fixed clock, and a stubbed data source
(`tests.support.tui_backend.StaticBackend`) instead of a daemon, so no ports, pids or wall-clock times appear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.tui_backend import StaticBackend
from tui.app import PaasApp

T = 1_700_000_000.0
MB = 1024 * 1024


def _line(
    text: str, dyno: str = "router", source: str = "heroku", app: str = "hello", ms: int = 0
) -> dict[str, Any]:
    ts = f"2023-11-14T22:13:{10 + ms // 1000:02d}.{ms % 1000:03d}000+00:00"
    return {
        "kind": "log.line",
        "app": app,
        "ts": T,
        "data": {"line": {"ts": ts, "app": app, "source": source, "dyno": dyno, "text": text}},
    }


def _router(
    at: str,
    path: str,
    dyno: str,
    status: int,
    code: str = "",
    desc: str = "",
    service: str = "4ms",
    ms: int = 0,
) -> dict[str, Any]:
    head = f'at={at} code={code} desc="{desc}"' if code else f"at={at}"
    connect = "0ms" if dyno else ""
    service = service if dyno else ""
    nbytes = "0" if code else "512"
    text = (
        f'{head} method=GET path="{path}" host=hello.localhost request_id=0000-{ms:04d} fwd="127.0.0.1" '
        f"dyno={dyno} connect={connect} service={service} status={status} bytes={nbytes if dyno else ''} protocol=http"
    )
    return _line(text, ms=ms)


EVENTS = [
    _line("Starting process with command `python app.py`", dyno="web.2", ms=0),
    _line("listening on 40002", dyno="web.2", source="app", ms=120),
    _line("State changed from starting to up", dyno="web.2", ms=130),
    _router("info", "/", "web.1", 200, ms=400),
    _router("info", "/json", "web.2", 200, ms=480),
    _router("error", "/slow", "web.2", 503, "H12", "Request timeout", "5000ms", ms=900),
    _line("Process exited with status 137", dyno="web.2", ms=1000),
    _line("State changed from up to crashed", dyno="web.2", ms=1001),
    _router("error", "/", "web.2", 503, "H13", "Connection closed without response", "5ms", ms=1002),
    _router("info", "/", "web.1", 200, ms=1200),
    _line("Error R14 (Memory quota exceeded)", dyno="worker.1", ms=1500),
    _router("error", "/", "", 503, "H10", "App crashed", ms=2000),
    _router("info", "/missing", "web.1", 404, ms=2100),
]

ROUTES: dict[str, Any] = {
    "GET /apps": [
        {
            "name": "hello",
            "maintenance": False,
            "web_url": "http://hello.localhost:5000/",
            "released_at": "x",
        },
        {"name": "shop", "maintenance": True, "web_url": "http://shop.localhost:5000/", "released_at": "x"},
    ],
    "GET /apps/hello/formation": [
        {"type": "web", "quantity": 2, "size": "standard-1x"},
        {"type": "worker", "quantity": 1, "size": "standard-1x"},
    ],
    "GET /apps/shop/formation": [{"type": "web", "quantity": 1, "size": "standard-1x"}],
    "GET /apps/hello/releases": [
        {
            "version": 1,
            "description": "Initial release",
            "status": "succeeded",
            "created_at": "2023-11-14T20:00:00Z",
        },
        {
            "version": 2,
            "description": "Enable Logplex",
            "status": "succeeded",
            "created_at": "2023-11-14T20:00:01Z",
        },
        {
            "version": 3,
            "description": "Deploy 1a2b3c4",
            "status": "succeeded",
            "current": True,
            "created_at": "2023-11-14T21:30:00Z",
        },
    ],
    "GET /apps/shop/releases": [
        {"version": 1, "description": "Initial release", "status": "succeeded", "current": True}
    ],
    "GET /apps/hello/dynos": [
        {
            "name": "web.1",
            "type": "web",
            "state": "up",
            "since": T - 125,
            "port": 40001,
            "host": "127.0.0.1",
            "memory": 180 * MB,
            "memory_quota": 512 * MB,
            "size": "Standard-1X",
            "release": {"version": 3},
        },
        {
            "name": "web.2",
            "type": "web",
            "state": "crashed",
            "since": T - 5,
            "memory": None,
            "memory_quota": 512 * MB,
            "size": "Standard-1X",
            "release": {"version": 3},
        },
        {
            "name": "worker.1",
            "type": "worker",
            "state": "up",
            "since": T - 3600,
            "memory": 600 * MB,
            "memory_quota": 512 * MB,
            "size": "Standard-1X",
            "release": {"version": 3},
            "container": "4f2a9c1d0e7b55aa",
        },
    ],
    "GET /apps/shop/dynos": [
        {
            "name": "web.1",
            "type": "web",
            "state": "starting",
            "since": T - 2,
            "memory_quota": 512 * MB,
            "release": {"version": 1},
        }
    ],
    "GET /router/metrics": {
        "apps": {"hello": {"requests": 1200, "errors": 9, "codes": {"H10": 4, "H12": 2, "H13": 3}}}
    },
    "GET /apps/hello/config-vars": {
        "DATABASE_URL": "postgres://user:secret@127.0.0.1:5432/db",
        "GREETING": "hi there",
        "SECRET_KEY": "abcdefghijkl",
    },
    "GET /apps/hello/addons": [
        {
            "name": "postgresql-round-1234",
            "plan": {"name": "heroku-postgresql:essential-0"},
            "state": "provisioned",
        }
    ],
    "GET /kafka/tenants": [
        {
            "tenant": "kafka-shallow-54717",
            "app": "hello",
            "plan": "basic-0",
            "prefix": "shallow-54717.",
            "messages_in_per_sec": 41.5,
            "bytes_in_per_sec": 5312.0,
            "bytes_out_per_sec": 10624.0,
            "data_size": 3 * MB,
            "data_size_limit": 4 * 1024 * MB,
            "topic_count": 2,
            "throttle": {
                "produce": {
                    "quota": 65536,
                    "throttled_responses": 34,
                    "last_throttle_ms": 188,
                    "last_throttled_at": 0,
                },
                "consume": {
                    "quota": 262144,
                    "throttled_responses": 0,
                    "last_throttle_ms": 0,
                    "last_throttled_at": 0,
                },
            },
            "topics": [
                {
                    "name": "shallow-54717.events",
                    "prefix_free_name": "events",
                    "partition_count": 2,
                    "messages_in_per_sec": 40.0,
                    "bytes_in_per_sec": 5120.0,
                    "bytes_out_per_sec": 10240.0,
                    "messages": 12000,
                    "data_size": 3 * MB - 4096,
                    "retention_time_ms": 86_400_000,
                    "cleanup_policy": "delete",
                },
                {
                    "name": "shallow-54717.audit",
                    "prefix_free_name": "audit",
                    "partition_count": 1,
                    "messages_in_per_sec": 1.5,
                    "bytes_in_per_sec": 192.0,
                    "bytes_out_per_sec": 384.0,
                    "messages": 30,
                    "data_size": 4096,
                    "retention_time_ms": 604_800_000,
                    "cleanup_policy": "compact,delete",
                },
            ],
            "consumer_groups": [
                {
                    "name": "shallow-54717.workers",
                    "state": "Stable",
                    "members": 2,
                    "lag": 1350,
                    "partitions": [
                        {"topic": "shallow-54717.events", "partition": 0, "lag": 1200},
                        {"topic": "shallow-54717.events", "partition": 1, "lag": 150},
                    ],
                },
            ],
        }
    ],
    "GET /dataclips/api/clips": [
        {
            "id": 1,
            "title": "Router errors per code",
            "target": "platform",
            "version": 2,
            "updated_at": "2023-11-14T22:00:00+00:00",
            "sql": "SELECT code, count(*) FROM router_requests GROUP BY code",
        },
        {
            "id": 2,
            "title": "Big orders",
            "target": "postgresql-round-1234",
            "version": 1,
            "updated_at": "2023-11-14T21:00:00+00:00",
            "sql": "SELECT id, total FROM orders WHERE total > 8",
        },
    ],
    "POST /dataclips/api/clips/1/run": {
        "clip": {
            "id": 1,
            "title": "Router errors per code",
            "sql": "SELECT code, count(*) AS requests FROM router_requests GROUP BY code ORDER BY 2 DESC",
        },
        "result": {
            "fields": ["code", "requests"],
            "values": [["H13", 41], ["H10", 12], ["H12", 3]],
            "rows": 3,
            "shown": 3,
            "truncated": False,
            "duration_ms": 4,
        },
    },
}


def demo_app() -> PaasApp:
    return PaasApp(StaticBackend(dict(ROUTES), list(EVENTS)), clock=lambda: T, freeze_gc=False)


async def _ready(pilot: Any) -> None:
    app: PaasApp = pilot.app
    for _ in range(100):
        state = app.store.apps.get("hello")
        if state is not None and state.release == 3 and state.dynos and app.store.apps.get("shop"):
            break
        await pilot.pause(0.02)
    # a minute of traffic for the sparklines (the live part of the figures comes from the lines)
    stats = app.store.apps["hello"].stats
    for k in range(60):
        second = int(T) - 60 + k
        stats.requests.add(second, 20 + (k * 7) % 13)
        if k % 9 == 0:
            stats.errors.add(second, 3)
    app.refresh_screen()
    await pilot.pause(0.3)


# Every screen at the three sizes users run it at: the 80x24 default terminal (side panes folded,
# router columns squeezed), a 120x40 laptop window, a 200x50 wide monitor (optional columns).
SIZES = [(80, 24), (120, 40), (200, 50)]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
sized = pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)


def keys(*pressed: str, pause: float = 0.3) -> Callable[[Any], Awaitable[None]]:
    """run_before for snap_compare: the demo data loaded, then these keys, one by one."""

    async def run(pilot: Any) -> None:
        await _ready(pilot)
        for key in pressed:
            await pilot.press(key)
            await pilot.pause(pause)

    return run


@sized
def test_overview(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=_ready)


@sized
def test_app_view(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys("2", pause=0.5))


@sized
def test_router_log_with_h13_explained(snap_compare: Any, size: tuple[int, int]) -> None:
    # onto the H13 line: the view pauses, the pane (or, folded, the info line) names H13
    run = keys("3", "up", "up", "up", "up")
    assert snap_compare(demo_app(), terminal_size=size, run_before=run)


@sized
def test_router_full_line(snap_compare: Any, size: tuple[int, int]) -> None:
    run = keys("3", "up", "up", "up", "up", "enter")
    assert snap_compare(demo_app(), terminal_size=size, run_before=run)


def test_router_log_filtered(snap_compare: Any) -> None:
    run = keys("3", "slash", *"status:5xx !H12", "enter", pause=0.05)
    assert snap_compare(demo_app(), terminal_size=SIZES[0], run_before=run)


def test_router_whole_lines(snap_compare: Any) -> None:
    assert snap_compare(demo_app(), terminal_size=SIZES[1], run_before=keys("3", "w"))


@sized
def test_logs(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys("4"))


@sized
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys("question_mark"))


PALETTE_SEARCH = "--textual-command-palette-gather-commands"  # Textual's worker group for it


def palette_search(query: str) -> Callable[[Any], Awaitable[None]]:
    """Type into the command palette, then wait for its search to finish: a fixed pause lost the
    race on a loaded machine and caught the palette's busy indicator instead of its results."""

    async def run(pilot: Any) -> None:
        await keys("colon", *query, pause=0.05)(pilot)
        for _ in range(500):  # until the palette's search worker is done (10 s at most)
            if not any(w.group == PALETTE_SEARCH and not w.is_finished for w in pilot.app.workers):
                break
            await pilot.pause(0.02)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run


@sized
def test_palette(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=palette_search("scale"))


@sized
def test_kafka(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys("5", pause=0.5))


@sized
def test_dataclips_run(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys("6", "enter", pause=0.5))
