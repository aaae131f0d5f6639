"""The TUI's data side without a screen: line parsing, the store, filters, code explanations."""

from __future__ import annotations

import pytest

from router.codes import CATALOG
from tui.client import decode_lines
from tui.codes import HELP, explain, find_code
from tui.filters import FilterError, parse_filter
from tui.model import (
    LOG_BUFFER,
    MB,
    ROUTER_BUFFER,
    LogEntry,
    RateSeries,
    Store,
    make_entry,
    parse_router_fields,
)
from tui.screens.format import mask, memory_text
from tui.widgets.lines import compact, log_parts, router_parts
from tui.widgets.spark import spark

H13 = (
    'at=error code=H13 desc="Connection closed without response" method=GET path="/a b?x=\\"1\\"" '
    'host=app.localhost request_id=abc fwd="127.0.0.1" dyno=web.2 connect=0ms service=5ms status=503 bytes=0 '
    "protocol=http"
)
OK = (
    'at=info method=GET path="/" host=app.localhost request_id=def fwd="127.0.0.1" dyno=web.1 connect=1ms '
    "service=3ms status=200 bytes=12 protocol=http"
)
H80 = (
    'at=info code=H80 desc="Maintenance mode" method=GET path="/" host=app.localhost request_id=x '
    'fwd="127.0.0.1" dyno= connect= service= status=503 bytes= protocol=http'
)
H27 = (
    'sock=client at=warning code=H27 desc="Client Request Interrupted" method=POST path="/up" '
    'host=app.localhost request_id=y fwd="127.0.0.1" dyno=web.1 connect=0ms service=20ms status=499 bytes= '
    "protocol=http"
)


def line(text: str, dyno: str = "router", source: str = "heroku", app: str = "app") -> dict[str, str]:
    return {
        "ts": "2024-05-01T10:11:12.345678+00:00",
        "app": app,
        "source": source,
        "dyno": dyno,
        "text": text,
    }


def entry(text: str, **kw: str) -> LogEntry:
    return make_entry(1, line(text, **kw))


# ---- parsing -----------------------------------------------------------------------------------
def test_router_fields_unquote_and_keep_empty_values() -> None:
    fields = parse_router_fields(H13)
    assert fields["code"] == "H13"
    assert fields["desc"] == "Connection closed without response"
    assert fields["path"] == '/a b?x="1"'
    assert fields["dyno"] == "web.2" and fields["status"] == "503"
    empty = parse_router_fields(H80)
    assert empty["dyno"] == "" and empty["connect"] == "" and empty["bytes"] == ""


@pytest.mark.parametrize(
    ("text", "level", "code"),
    [
        (OK, "info", None),
        (H13, "error", "H13"),
        (H80, "info", "H80"),
        (H27, "warning", "H27"),
    ],
)
def test_router_lines_get_level_and_code(text: str, level: str, code: str | None) -> None:
    e = entry(text)
    assert e.is_router and e.level == level and e.code == code
    assert e.clock == "10:11:12.345"


def test_dyno_lines_find_runtime_and_logging_codes() -> None:
    r14 = entry("Error R14 (Memory quota exceeded)", dyno="web.1")
    assert not r14.is_router and r14.code == "R14" and r14.level == "error"
    l11 = entry("Error L11 (Tail buffer overflow) -> This tail session dropped 12 messages", dyno="logplex")
    assert l11.code == "L11"
    plain = entry("GET /H13 returned fine", source="app", dyno="web.1")
    assert plain.code is None


# ---- the store -----------------------------------------------------------------------------------
def test_store_follows_dynos_formation_releases_and_router_lines() -> None:
    now = [1000.5]
    store = Store(clock=lambda: now[0])
    store.load_apps(
        [{"name": "app", "maintenance": False, "web_url": "http://app.localhost:5000/", "released_at": "x"}]
    )
    store.load_formation("app", [{"type": "web", "quantity": 2, "size": "standard-1x"}])
    store.apply(
        {
            "kind": "dyno.state",
            "app": "app",
            "ts": 990.0,
            "data": {"dyno": "web.1", "type": "web", "state": "up", "port": 4001, "release": 3},
        }
    )
    store.apply(
        {
            "kind": "dyno.state",
            "app": "app",
            "ts": 991.0,
            "data": {"dyno": "web.2", "type": "web", "state": "starting"},
        }
    )
    state = store.apps["app"]
    assert {n: d.state for n, d in state.dynos.items()} == {"web.1": "up", "web.2": "starting"}
    assert state.dynos["web.1"].port == 4001 and state.dynos["web.1"].since == 990.0

    # scaling down: the stopped dyno goes once it is down
    store.apply({"kind": "formation.changed", "app": "app", "data": {"type": "web", "quantity": 1}})
    store.apply(
        {
            "kind": "dyno.state",
            "app": "app",
            "ts": 992.0,
            "data": {"dyno": "web.2", "type": "web", "state": "down"},
        }
    )
    assert list(state.dynos) == ["web.1"] and state.formation["web"][0] == 1

    store.apply(
        {
            "kind": "release.created",
            "app": "app",
            "data": {"version": 4, "description": "Deploy x", "status": "succeeded"},
        }
    )
    assert state.release == 4
    for text in (OK, OK, H13):
        store.apply({"kind": "log.line", "app": "app", "data": {"line": line(text)}})
    store.apply(
        {"kind": "log.line", "app": "app", "data": {"line": line("hello", source="app", dyno="web.1")}}
    )
    assert len(state.router) == 3 and len(state.logs) == 4
    assert state.stats.codes["H13"] == 1 and state.stats.total == 3 and state.stats.error_total == 1
    now[0] = 1001.2
    assert state.stats.requests.series(1001)[-1] == 3
    assert state.stats.error_percent(1001) == pytest.approx(100 / 3)

    store.apply({"kind": "overflow", "dropped": 7})
    assert store.dropped == 7
    changes = store.take_changes()
    assert {"apps", "dynos:app", "release:app"} <= changes and store.take_changes() == set()


def test_store_buffers_are_bounded() -> None:
    store = Store()
    for i in range(max(LOG_BUFFER, ROUTER_BUFFER) + 500):
        store.apply(
            {
                "kind": "log.line",
                "app": "app",
                "data": {"line": line(OK if i % 2 else f"line {i}", dyno="router" if i % 2 else "web.1")},
            }
        )
    state = store.apps["app"]
    assert len(state.logs) == LOG_BUFFER and len(state.router) <= ROUTER_BUFFER
    assert state.logs[-1].seq == store.seq


def test_dynos_endpoint_rows_and_memory() -> None:
    store = Store()
    store.load_dynos(
        "app",
        [
            {
                "name": "web.1",
                "type": "web",
                "state": "up",
                "since": "2024-05-01T10:00:00Z",
                "memory": 600 * MB,
                "memory_quota": 512 * MB,
                "size": "Standard-1X",
                "port": 5001,
                "release": {"version": 7},
            }
        ],
    )
    d = store.apps["app"].dynos["web.1"]
    assert d.release == 7 and d.port == 5001 and d.size == "standard-1x"
    assert d.memory_percent == pytest.approx(117.1875)
    assert "R14" in memory_text(d.memory_bytes, d.quota_bytes).plain
    assert "R14" not in memory_text(100 * MB, 512 * MB).plain
    store.load_dynos("other", None)
    assert store.apps["other"].dynos_endpoint is False


def test_rate_series_forgets_old_seconds() -> None:
    series = RateSeries(60)
    series.add(100, 5)
    series.add(160, 2)  # same slot, a minute later: the old count is gone
    assert series.count(100) == 0 and series.count(160) == 2
    assert series.rate(161, window=10) == pytest.approx(0.2)


# ---- filters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", {"ok", "h13", "h80", "h27", "app"}),
        ("code:H13", {"h13"}),
        ("H13", {"h13"}),
        ("code:h1*", {"h13"}),
        ("code:H80,H27", {"h80", "h27"}),
        ("status:503", {"h13", "h80"}),
        ("503", {"h13", "h80"}),
        ("status:4xx", {"h27"}),
        ("dyno:web", {"ok", "h13", "h27", "app"}),
        ("dyno:web.1", {"ok", "h27", "app"}),
        ("path:/up", {"h27"}),
        ("!code:H13 source:heroku", {"ok", "h80", "h27"}),
        ("source:app", {"app"}),
        ("method:post", {"h27"}),
        ("at:warning", {"h27"}),
        ("maintenance", {"h80"}),
    ],
)
def test_filters(text: str, matches: set[str]) -> None:
    entries = {
        "ok": entry(OK),
        "h13": entry(H13),
        "h80": entry(H80),
        "h27": entry(H27),
        "app": entry("hello from web.1", source="app", dyno="web.1"),
    }
    f = parse_filter(text)
    assert {name for name, e in entries.items() if f(e)} == matches


def test_filter_errors_and_code_hint() -> None:
    with pytest.raises(FilterError, match="unknown filter key 'colour'"):
        parse_filter("colour:red")
    with pytest.raises(FilterError, match="status:abc"):
        parse_filter("status:abc")
    assert parse_filter("code:h13 dyno:web").code() == "H13"
    assert parse_filter("code:H13,H10").code() is None
    assert parse_filter("http://x").empty is False  # a URL is a word, not a key


# ---- codes ----------------------------------------------------------------------------------------
def test_every_code_we_emit_is_explained() -> None:
    emitted = set(CATALOG) | {"R10", "R12", "R13", "R14", "R15", "R16", "R99", "L10", "L11"}
    missing = emitted - set(HELP)
    assert not missing, f"codes without an explanation: {sorted(missing)}"
    for h in HELP.values():
        assert h.meaning and h.causes and h.fixes, h.code


def test_h13_tells_the_sigterm_and_backlog_story() -> None:
    h13 = explain("H13")
    assert h13 is not None
    story = h13.story
    for words in ("SIGTERM", "backlog", "1024", "#1808", "ECONNREFUSED", "close the listeners"):
        assert words in story, words
    assert find_code('at=error code=H13 desc="…"') == "H13"
    assert find_code("Error R15 (Memory quota vastly exceeded)") == "R15"
    assert find_code("H99 bottles") == "H99" and find_code("nothing here") is None


# ---- small renderers ------------------------------------------------------------------------------
def test_router_line_rendering_is_compact_and_coloured() -> None:
    e = entry(H13)
    text = "".join(t for t, _ in router_parts(e))
    assert "request_id=" not in text and "host=" not in text and "fwd=" not in text
    assert "code=H13" in text and "status=503" in text and text.startswith("10:11:12.345 heroku[router]: ")
    styles = dict((t.split("=")[0], s) for t, s in router_parts(e) if "=" in t and not t.startswith(" "))
    assert "bold" in styles["code"] and "red" in styles["status"]
    assert "request_id=abc" in "".join(
        t for t, _ in log_parts(e)
    )  # the Logs screen keeps Heroku's whole line
    assert compact(OK).endswith("status=200 bytes=12")


def test_spark_and_mask() -> None:
    assert spark([0, 0, 0], 3).plain == "   "
    line_ = spark([1, 2, 4, 8], 4).plain
    assert line_[-1] == "█" and line_[0] != " "
    assert len(spark(list(range(60)), 20).plain) == 20
    assert mask("postgres://user:pw@host/db") == "postgres://••••••••"
    assert mask("abcdefghij").startswith("ab") and "cdef" not in mask("abcdefghij")


def test_decode_lines_survives_a_bad_line() -> None:
    good = b'{"kind":"ping"}\n{"kind":"hello","status":{}}'
    assert [e["kind"] for e in decode_lines(good)] == ["ping", "hello"]
    mixed = b'{"kind":"ping"}\n{not json\n[1,2]\n{"kind":"overflow","dropped":3}\n'
    assert [e["kind"] for e in decode_lines(mixed)] == ["ping", "overflow"]
    assert decode_lines(b"\n\n") == []
