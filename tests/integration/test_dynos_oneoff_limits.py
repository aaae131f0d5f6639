"""One-off dynos live under the same limits as formation dynos: daily cycling and memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.test_dynos_harness import Harness, cmd
from tests.support.runtimes import dyno_runtime  # noqa: F401  (fixture: process and docker)

pytestmark = pytest.mark.usefixtures("dyno_runtime")


async def test_one_off_is_cycled_not_restarted(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", cycle_interval=0.5).start()
    try:
        run = await h.manager.run_oneoff(h.desired(), cmd("sleep"), attach=False)
        assert await asyncio.wait_for(run.wait(), 5) == 0  # its SIGTERM handler exits 0
        texts = h.lines(run.name, "heroku")
        assert texts[-4:] == [
            "Cycling",
            "Stopping all processes with SIGTERM",
            "Process exited with status 0",
            "State changed from up to complete",
        ]
        assert h.manager.dynos("demo") == []
    finally:
        await h.close()


@pytest.mark.slow
async def test_one_off_over_twice_its_quota_is_killed(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home").start()
    try:
        run = await h.manager.run_oneoff(h.desired(), cmd("alloc", "1100"), attach=False)
        assert await asyncio.wait_for(run.wait(), 20) == 137
        texts = h.lines(run.name, "heroku")
        i = texts.index("Error R15 (Memory quota vastly exceeded)")
        assert texts[i - 1].startswith("Process running mem=")
        assert texts[i + 1 :] == [
            "Stopping process with SIGKILL",
            "Process exited with status 137",
            "State changed from up to complete",
        ]
    finally:
        await h.close()
