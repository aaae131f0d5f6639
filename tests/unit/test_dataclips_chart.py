"""Chart choice (Heroku's rule) and the SVG: line for time+number, bar for text+number, else none."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from paas.dataclips.chart import _nice_ticks, chart_for, render_svg
from paas.dataclips.export import json_value, share_json
from paas.dataclips.results import ClipError, ClipResult, Column


def result(columns: list[tuple[str, str, str]], values: list[tuple[object, ...]]) -> ClipResult:
    return ClipResult(
        [Column(*c) for c in columns], values, truncated=False, row_cap=100_000, duration_ms=1.0
    )


def test_time_and_number_make_a_line_chart() -> None:
    r = result(
        [("minute", "timestamptz", "time"), ("errors", "int8", "number"), ("requests", "int8", "number")],
        [(datetime(2024, 1, 1, 0, m, tzinfo=UTC), m % 3, 10 + m) for m in range(30, 0, -1)],
    )
    chart = chart_for(r)
    assert (
        chart is not None and chart.kind == "line" and [s[0] for s in chart.series] == ["errors", "requests"]
    )
    assert chart.series[0][1][0][0] < chart.series[0][1][-1][0]  # sorted by time
    svg = render_svg(chart)
    assert svg.startswith("<svg") and svg.count('class="series"') == 2 and 'data-kind="line"' in svg
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_text_and_number_make_a_bar_chart_with_escaped_labels() -> None:
    r = result(
        [("code", "text", "text"), ("n", "numeric", "number")], [("<H12>", Decimal("4.5")), ("H13", 2)]
    )
    chart = chart_for(r)
    assert chart is not None and chart.kind == "bar"
    svg = render_svg(chart)
    assert svg.count('class="bar"') == 2 and "&lt;H12&gt;" in svg and "<H12>" not in svg


def test_no_chart_without_a_pair() -> None:
    assert chart_for(result([("n", "int4", "number")], [(1,)])) is None
    assert chart_for(result([("a", "text", "text"), ("b", "text", "text")], [("x", "y")])) is None
    assert chart_for(result([("d", "date", "time"), ("n", "int4", "number")], [])) is None
    assert (
        chart_for(result([("d", "date", "time"), ("n", "int4", "number")], [(date(2024, 1, 1), None)]))
        is None
    )


def test_ticks_cover_the_highest_value() -> None:
    assert _nice_ticks(0, 221) == [0, 50, 100, 150, 200, 250]
    assert _nice_ticks(0, 1)[-1] >= 1 and _nice_ticks(-5, 5)[0] <= -5


def test_json_values_and_share_shape() -> None:
    r = result(
        [("d", "date", "time"), ("n", "numeric", "number"), ("b", "bytea", "other"), ("j", "jsonb", "other")],
        [(date(2024, 1, 2), Decimal("2.50"), b"\x01\xff", {"a": [1]})],
    )
    assert share_json("T", r) == {
        "title": "T",
        "fields": ["d", "n", "b", "j"],
        "values": [["2024-01-02", 2.5, "\\x01ff", {"a": [1]}]],
    }
    assert json_value(Decimal("3")) == 3 and json_value(float("nan")) == "nan"


def test_error_positions_become_line_and_column() -> None:
    e = ClipError("boom", position=13)  # the "x"
    assert e.line_col("SELECT 1,\n  x") == (2, 3)
    assert ClipError("no position").to_json("x") == {
        "message": "no position",
        "kind": "error",
        "position": None,
    }


def test_chart_settings_pick_the_kind_and_axes() -> None:
    from paas.dataclips.chart import ChartSettings

    r = result(
        [("day", "date", "time"), ("plan", "text", "text"), ("a", "int4", "number"), ("b", "int4", "number")],
        [(date(2024, 1, d), f"p{d % 2}", d, 10 * d) for d in range(1, 5)],
    )
    auto = chart_for(r)
    assert auto is not None and (auto.kind, auto.x_name, [n for n, _ in auto.series]) == (
        "line",
        "day",
        ["a", "b"],
    )
    bar = chart_for(r, ChartSettings("bar", "plan", ("b",)))
    assert bar is not None and (bar.kind, bar.x_name, [n for n, _ in bar.series]) == ("bar", "plan", ["b"])
    assert chart_for(r, ChartSettings("none")) is None
    assert chart_for(r, ChartSettings("line", "plan")) is None  # a line needs an ordered x axis
    gone = chart_for(r, ChartSettings("bar", "dropped", ("dropped",)))  # columns the SQL no longer has
    assert gone is not None and gone.kind == "bar" and [n for n, _ in gone.series] == ["a", "b"]
    assert ChartSettings.from_json({"kind": "bar", "x": "plan", "y": ["b"]}) == ChartSettings(
        "bar", "plan", ("b",)
    )


def test_a_kept_result_reads_back_with_its_types() -> None:
    from paas.dataclips.kept import dump, load

    r = result(
        [
            ("at", "timestamptz", "time"),
            ("d", "date", "time"),
            ("n", "numeric", "number"),
            ("t", "text", "text"),
        ],
        [(datetime(2024, 1, 1, 12, tzinfo=UTC), date(2024, 1, 2), Decimal("1.5"), "x")] * 3,
    )
    kept = load(dump(r, limit=2))
    assert kept.rows == 3 and len(kept.result.values) == 2
    assert kept.result.values[0] == (datetime(2024, 1, 1, 12, tzinfo=UTC), date(2024, 1, 2), 1.5, "x")
    assert kept.result.ran_at == r.ran_at and kept.result.fields == r.fields


def test_a_wide_result_keeps_fewer_rows_within_the_byte_bound() -> None:
    from paas.dataclips.kept import dump, load

    r = result([("pad", "text", "text")], [("x" * 1000,)] * 100)
    payload = dump(r, limit=100, max_bytes=20_000)
    kept = load(payload)
    assert len(payload) <= 20_000 and 0 < len(kept.result.values) < 100 and kept.rows == 100
