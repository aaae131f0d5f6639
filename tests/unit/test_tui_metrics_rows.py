"""The Metrics view's rows: steps map onto exactly the columns there are, events land in the
column of their step, a dyno past its quota is shown in red."""

from __future__ import annotations

from typing import Any

from tui.widgets.metrics_rows import column_of, fit, marks_row, memory_rows, render, spark_width


def test_steps_fill_the_columns_whether_there_are_more_or_fewer() -> None:
    assert fit([1.0, 2.0, 3.0], 6) == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert fit([1.0, 5.0, 2.0, 0.0, 7.0, 1.0], 3) == [5.0, 2.0, 7.0]  # the peak of each pair
    assert len(fit([0.0] * 360, 47)) == 47 and len(fit([0.0] * 60, 47)) == 47
    assert fit([], 10) == []
    for steps, cols in ((60, 47), (60, 150), (360, 47)):
        for step in range(steps):
            column = column_of(step, steps, cols)
            shown = fit([1.0 if s == step else 0.0 for s in range(steps)], cols)
            assert shown.index(1.0) == column, (steps, cols, step)


def _data(**extra: Any) -> dict[str, Any]:
    times = [1_700_000_000 + 60 * i for i in range(60)]
    return {"app": "a", "resolution": 60, "times": times, "events": [], **extra}


def test_an_event_is_marked_at_its_steps_column() -> None:
    data = _data()
    data["events"] = [{"ts": data["times"][30] + 10, "kind": "deploy", "text": "v3"}]
    row = marks_row(data, 80).plain
    offset = row.index("·")
    assert row.index("D") - offset == column_of(30, 60, spark_width(80))


def test_memory_past_the_quota_is_red_and_everything_fits_the_width() -> None:
    data = _data(memory_mb={"web.1": [600.0] * 60}, memory_quota_mb={"web.1": 512})
    over = memory_rows(data, 80)[1]
    assert "600/512 MB" in over.plain and any("red" in str(span.style) for span in over.spans)
    for width in (80, 120, 200):
        text = render(data, width)
        assert max(len(line) for line in text.plain.splitlines()) <= width
