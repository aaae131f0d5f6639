"""A daemon killed with SIGKILL leaves no dyno behind, and the next one brings the formation back.

A child Python process plays the daemon (DynoManager + ProcessRuntime on uvloop), prints
the pids of every dyno process (leaders and their children), and is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.test_dynos_harness import Harness, cmd

ROOT = Path(__file__).resolve().parents[2]

FAKE_DAEMON = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    import psutil, uvloop
    from tests.integration.test_dynos_harness import Harness, cmd

    async def main():
        h = Harness(Path(sys.argv[1]))
        h.runtime.use_watchdog = sys.argv[2] == "1"
        await h.start()
        await h.manager.apply(h.desired(web=(cmd("web"), 2), worker=("sleep 300 & " + cmd("sleep"), 1)))
        await h.wait_all_up("demo", 3)
        await h.wait_line("worker.1", "sleeping")
        pids = {}
        for d in h.manager.dynos("demo"):
            pids[d.name] = [d.pid] + [c.pid for c in psutil.Process(d.pid).children(recursive=True)]
        print(json.dumps(pids), flush=True)
        await asyncio.sleep(3600)

    uvloop.run(main())
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def run_fake_daemon(home: Path, watchdog: bool) -> dict[str, list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_DAEMON, str(home), "1" if watchdog else "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "fake daemon printed nothing"
        pids: dict[str, list[int]] = json.loads(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    return pids


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.mark.slow
async def test_daemon_sigkill_leaves_no_orphans_and_restart_restores_formation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pids = run_fake_daemon(home, watchdog=True)
    everything = [p for group in pids.values() for p in group]
    assert len(pids["worker.1"]) >= 3  # bash, sleep 300, python: grandchildren included
    assert wait_dead(everything, 3) == []

    h = await Harness(home).start()
    try:
        assert h.runtime.reaped == 0  # the watchdog left nothing to reap
        await h.manager.apply(h.desired(web=(cmd("web"), 2), worker=("sleep 300 & " + cmd("sleep"), 1)))
        await h.wait_all_up("demo", 3)
    finally:
        await h.close()


@pytest.mark.slow
async def test_without_watchdog_pdeathsig_and_the_registry_reap_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pids = run_fake_daemon(home, watchdog=False)
    # PR_SET_PDEATHSIG: every leader dies with the daemon ...
    leaders = [group[0] for group in pids.values()]
    assert wait_dead(leaders, 3) == []
    # ... but the worker's children (bash stays the leader of a compound command) survive
    survivors = [p for p in pids["worker.1"][1:] if alive(p)]
    assert survivors
    records = list((home / "dynos" / "process" / "registry").glob("*.json"))
    assert len(records) == 3

    h = await Harness(home).start()  # the next daemon reaps them from the registry
    try:
        assert h.runtime.reaped >= len(survivors)
        assert wait_dead(survivors, 2) == []
        assert list((home / "dynos" / "process" / "registry").glob("*.json")) == []
        assert not (home / "dynos" / "process" / "demo").exists()  # old dyno filesystems wiped
        await h.manager.apply(h.desired(web=(cmd("web"), 2), worker=(cmd("sleep"), 1)))
        await h.wait_all_up("demo", 3)
    finally:
        await h.close()
