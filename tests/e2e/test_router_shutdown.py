"""The Puma H13 story, for real: a dyno is SIGTERMed while the router still sends it requests.

Heroku's SIGTERM and the router's removal of the dyno are separate systems, so a few requests
still reach a dyno after it was signalled. A server that stops accepting but leaves its
listening socket open lets the kernel queue those connections, then resets them at exit:
H13. A server that closes its listener first gets connections refused instead, and the
router retries them on another dyno: no error at all (Puma 4, PR #1808).
"""

from __future__ import annotations

import asyncio
import signal

import pytest
import uvloop

from common.config import Settings
from tests.support.router_harness import LabDynoProcess, RouterHarness, http_get

pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture')

SETTINGS = Settings(router_timeout=5.0, router_connect_timeout=1.0, router_hold_timeout=2.0)


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


async def _burst_after_sigterm(mode: str) -> tuple[list[int | None], list[dict[str, str]]]:
    with (
        LabDynoProcess("--on-sigterm", mode, "--grace", "0.8", dyno="web.1") as stopping,
        LabDynoProcess(dyno="web.2") as healthy,
    ):
        async with RouterHarness(SETTINGS) as h:
            h.add_app("demo", [stopping.backend, healthy.backend])
            assert (await http_get(h.port, "/")).status == 200
            stopping.signal(signal.SIGTERM)
            await asyncio.sleep(0.15)  # signalled, but still in the route table
            results = await asyncio.gather(*(http_get(h.port, "/") for _ in range(20)))
            stopping.wait(5)
            lines = h.app_lines("demo")[1:]
    return [r.status for r in results], lines


@pytest.mark.slow
async def test_naive_shutdown_resets_queued_connections_h13() -> None:
    statuses, lines = await _burst_after_sigterm("naive")
    h13 = [line for line in lines if line.get("code") == "H13"]
    assert h13, "requests queued on the stopping dyno should end in H13"
    assert all(line["dyno"] == "web.1" and line["bytes"] == "0" for line in h13)
    assert statuses.count(503) == len(h13)
    assert all(s in (200, 503) for s in statuses)


@pytest.mark.slow
async def test_draining_shutdown_is_retried_elsewhere_without_errors() -> None:
    statuses, lines = await _burst_after_sigterm("drain")
    assert statuses == [200] * 20
    assert all("code" not in line and line["dyno"] == "web.2" for line in lines)
