"""The ps / ps:scale / run helpers of the CLI (no daemon)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paas.cli.client import CliError
from paas.cli.cmd_ps import ago, build_command, parse_env, parse_scale, render_ps, size_label, split_app_flag

FORMATION = [{"type": "web", "quantity": 3}, {"type": "my-worker", "quantity": 1}]


def test_parse_scale_forms() -> None:
    assert parse_scale(("web=5", "my-worker=0"), FORMATION) == [
        {"type": "web", "quantity": 5},
        {"type": "my-worker", "quantity": 0},
    ]
    assert parse_scale(("web+2",), FORMATION) == [{"type": "web", "quantity": 5}]
    assert parse_scale(("web-5",), FORMATION) == [{"type": "web", "quantity": 0}]  # never below 0
    assert parse_scale(("my-worker-1",), FORMATION) == [{"type": "my-worker", "quantity": 0}]
    assert parse_scale(("web=2:Standard-2X",), FORMATION) == [
        {"type": "web", "quantity": 2, "size": "standard-2x"}
    ]
    assert parse_scale(("web=performance-l",), FORMATION) == [{"type": "web", "size": "performance-l"}]


@pytest.mark.parametrize("bad", ["web", "=3", "web=x:y:z", "web=3:", "web*2", ""])
def test_parse_scale_rejects(bad: str) -> None:
    with pytest.raises(CliError, match="Usage: paas ps:scale"):
        parse_scale((bad,), FORMATION)


def test_relative_scale_needs_a_known_type() -> None:
    with pytest.raises(CliError, match=r"Couldn't find that process type \(cron\)"):
        parse_scale(("cron+1",), FORMATION)


def test_size_labels() -> None:
    assert [
        size_label(s)
        for s in ("eco", "basic", "standard-1x", "standard-2x", "performance-m", "performance-l")
    ] == ["Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M", "Performance-L"]


def test_ago() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=5), now) == "~ 5s ago"
    assert ago(now - timedelta(minutes=4, seconds=10), now) == "~ 4m ago"
    assert ago(now - timedelta(hours=3), now) == "~ 3h ago"
    assert ago(now - timedelta(days=2), now) == "~ 2d ago"


def test_render_ps_groups_like_heroku() -> None:
    since = "2026-11-26T15:04:05Z"

    def dyno(
        name: str, state: str = "up", command: str = "python app.py", size: str = "Standard-1X"
    ) -> dict[str, Any]:
        return {
            "name": name,
            "type": name.split(".")[0],
            "state": state,
            "since": since,
            "command": command,
            "size": size,
        }

    lines = list(
        render_ps(
            "demo",
            [
                dyno("web.2"),
                dyno("web.1"),
                dyno("worker.1", "crashed", "python w.py"),
                dyno("run.1234", command="bash"),
            ],
        )
    )
    assert lines[0] == "=== run: one-off processes (1)"
    assert lines[2].startswith("run.1234 (Standard-1X): up 2026/11/26 ") and lines[2].endswith(": bash")
    assert lines[4] == "=== web (Standard-1X): python app.py (2)"
    assert lines[6].startswith("web.1: up ") and lines[7].startswith("web.2: up ")
    assert lines[9] == "=== worker (Standard-1X): python w.py (1)"
    assert lines[11].startswith("worker.1: crashed ")
    assert list(render_ps("demo", [])) == ["No dynos on ⬢ demo"]


def test_parse_env() -> None:
    assert parse_env(("A=1;B=two", "C=x=y")) == {"A": "1", "B": "two", "C": "x=y"}
    with pytest.raises(CliError):
        parse_env(("NOVALUE",))


def test_run_takes_a_trailing_app_flag() -> None:
    assert split_app_flag(None, ("bash", "-a", "demo")) == ("demo", ("bash",))
    assert split_app_flag(None, ("ls", "--app=demo", "-l")) == ("demo", ("ls", "-l"))
    assert split_app_flag("demo", ("grep", "-a", "x")) == ("demo", ("grep", "-a", "x"))


def test_build_command_keeps_arguments_intact() -> None:
    assert build_command(("rake test",)) == "rake test"
    assert build_command(("python", "-c", "import sys; sys.exit(3)")) == "python -c 'import sys; sys.exit(3)'"
