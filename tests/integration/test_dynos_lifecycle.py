"""The dyno lifecycle on real processes: scale, env, output, ephemeral filesystem, restarts,
crash back-off, R10, R12, cycling, releases. Timers are shortened through Settings."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import PaasError
from tests.integration.test_dynos_harness import Harness, cmd
from tests.support.runtimes import dyno_runtime, own_containers  # noqa: F401  (fixture: process and docker)

pytestmark = pytest.mark.usefixtures("dyno_runtime")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await Harness(tmp_path / "home").start()
    try:
        yield harness
    finally:
        await harness.close()


async def http_get(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data.decode().split("\r\n\r\n", 1)[1]


async def refuses(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_scale_up_and_down(h: Harness) -> None:
    await h.manager.apply(h.desired(web=(cmd("web"), 3), config={"GREETING": "hi"}))
    await h.wait_all_up("demo", 3)
    dynos = h.manager.dynos("demo")
    assert [d.name for d in dynos] == ["web.1", "web.2", "web.3"]
    ports = [d.port for d in dynos]
    assert len(set(ports)) == 3 and all(ports)
    for d in dynos:
        assert d.port is not None
        assert await http_get(d.port) == f"{d.name} hi\n"
        assert d.pid and d.host == "127.0.0.1" and d.release == 3 and d.size == "standard-1x"
    assert h.lines("web.2", "heroku")[:2] == [
        f"Starting process with command `{cmd('web')}`",
        "State changed from starting to up",
    ]
    up = [e for _, e in h.events if e.data["state"] == "up"]
    assert {e.data["dyno"] for e in up} == {"web.1", "web.2", "web.3"}
    assert all(e.data["port"] and e.data["host"] == "127.0.0.1" and e.data["release"] == 3 for e in up)

    # Scale down: the router must hear "not up" before the process gets SIGTERM.
    signalled_first: list[str] = []

    def on_state(event: object) -> None:
        data = event.data  # type: ignore[attr-defined]
        signalled = h.find(data["dyno"], "got SIGTERM") or h.find(data["dyno"], "Stopping all processes")
        if data["state"] == "stopping" and signalled:
            signalled_first.append(data["dyno"])

    h.bus.listen(["dyno.state"], on_state)
    gone = {d.name: d.port for d in dynos[1:]}
    await h.manager.apply(h.desired(web=(cmd("web"), 1), config={"GREETING": "hi"}))
    for name in gone:
        await h.wait_line(name, "Process exited with status 0")
    await h.wait_for(lambda: [d.name for d in h.manager.dynos("demo")] == ["web.1"], what="only web.1 left")
    assert signalled_first == []
    assert h.state_changes("web.3")[-3:] == [
        "State changed from up to down",
        "Stopping all processes with SIGTERM",
        "Process exited with status 0",
    ]
    assert "got SIGTERM" in h.lines("web.3", "app")
    states = [e.data["state"] for _, e in h.events if e.data["dyno"] == "web.3"]
    assert states == ["starting", "up", "stopping", "down"]
    for port in gone.values():
        assert port is not None and await refuses(port)
    assert h.manager.dynos("demo")[0].port == ports[0]  # web.1 untouched


async def test_env_output_and_unbuffered_python(h: Harness) -> None:
    await h.manager.apply(
        h.desired(
            web=(cmd("web"), 1),
            worker=(cmd("env"), 1),
            clock=(cmd("nonewline"), 1),
            config={"GREETING": "hey"},
        )
    )
    # generous waits: this asserts what the dynos see, not how fast containers start on a busy CI
    await h.wait_line("worker.1", "CWD=", timeout=30)
    env = dict(line.split("=", 1) for line in h.lines("worker.1", "app"))
    assert env["DYNO"] == "worker.1"
    assert env["PORT"] == ""  # only web dynos get $PORT
    assert env["GREETING"] == "hey"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HOME"] == env["CWD"]
    if h.runtime.name == "docker":
        assert env["HOME"] == "/app"  # the container's own copy of the slug
    else:
        assert Path(env["HOME"]).is_relative_to(h.settings.dynos_dir)
    # the process is still running: its lines arrived without waiting for exit or a flush
    # (its `up` may be recorded a moment after its first lines: wait for it, do not race it)
    await h.wait_state("demo", "worker.1", "up", timeout=30)
    await h.wait_line("web.1", "booting web.1 on", timeout=30)
    port = h.manager.dyno("demo", "web.1").port
    assert h.find("web.1", f"on {port}")
    await h.wait_line("clock.1", "to stderr", timeout=30)
    assert h.lines("clock.1", "app") == ["first line", "partial done", "to stderr"]


async def test_ephemeral_filesystem(h: Harness) -> None:
    await h.manager.apply(h.desired(worker=(cmd("fs"), 1)))
    first = await h.wait_line("worker.1", "marker")
    assert first.text == "marker fresh"
    docker = h.runtime.name == "docker"
    if docker:  # the filesystem is the container's writable layer: it goes with the container
        workdir = Path(h.manager.dyno("demo", "worker.1").container or "")
    else:
        workdir = Path(_cwd(h.manager.dyno("demo", "worker.1").pid))
        assert (workdir / "written-at-runtime.txt").exists()
    await h.manager.restart("demo", "worker.1")
    await h.wait_line("worker.1", "marker", after=first.at + 0.001)
    assert [t for t in h.lines("worker.1", "app") if t.startswith("marker")] == [
        "marker fresh",
        "marker fresh",
    ]
    assert (h.slug_dir / "slug-file.txt").read_text() == "original"
    assert "written-at-runtime.txt" not in os.listdir(h.slug_dir)
    if docker:
        await h.wait_for(
            lambda: not any(c.startswith(str(workdir)) for c in own_containers(h.home)),
            what="old dyno container removed",
        )
    else:
        await h.wait_for(lambda: not workdir.exists(), what="old dyno filesystem wiped")


def _cwd(pid: int | None) -> str:
    assert pid is not None
    return os.readlink(f"/proc/{pid}/cwd")


async def test_any_exit_is_a_crash_and_backoff_doubles(h: Harness) -> None:
    # crash_backoff_max=0.8: 1st crash → at once, then 0.4, 0.8, 0.8 (capped)
    await h.manager.apply(h.desired(worker=(cmd("exit", "3"), 1)))
    await h.wait_for(
        lambda: len([t for t in h.lines("worker.1") if t == "State changed from crashed to starting"]) >= 4,
        timeout=10,
        what="four restarts",
    )
    crashed = [s.at for s in h.seen if s.dyno == "worker.1" and s.text == "State changed from up to crashed"]
    restarted = [
        s.at for s in h.seen if s.dyno == "worker.1" and s.text == "State changed from crashed to starting"
    ]
    gaps = [b - a for a, b in zip(crashed, restarted, strict=False)]
    assert gaps[0] < 0.15, gaps
    assert 0.35 <= gaps[1] < 0.6, gaps
    assert 0.75 <= gaps[2] < 1.0, gaps
    assert 0.75 <= gaps[3] < 1.0, gaps
    assert "Process exited with status 3" in h.lines("worker.1", "heroku")
    # counted once the new process exists (a container takes a little longer to create)
    await h.wait_for(lambda: h.manager.dyno("demo", "worker.1").restarts >= 4, what="4 restarts counted")

    # a new release resets the back-off: its first crash restarts at once again
    await h.wait_state("demo", "worker.1", "crashed")
    mark = time.monotonic()
    await h.manager.apply(h.desired(release=4, worker=(cmd("exit", "0"), 1)))
    exit0 = await h.wait_line("worker.1", "Process exited with status 0", after=mark)
    again = await h.wait_line("worker.1", "State changed from crashed to starting", after=exit0.at)
    assert again.at - exit0.at < 0.15


async def test_r10_boot_timeout_kills_and_crashes(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", boot_timeout=1.0, crash_backoff_max=30).start()
    try:
        await h.manager.apply(h.desired(web=(cmd("nobind"), 1)))
        started = await h.wait_line("web.1", "Starting process with command")
        r10 = await h.wait_line("web.1", "Error R10", timeout=5)
        assert (
            r10.text
            == "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 1 seconds of launch"
        )
        assert 0.95 <= r10.at - started.at < 2.0  # 1 s after launch (+ the slug copy before it)
        await h.wait_line("web.1", "State changed from starting to crashed", after=r10.at)  # the kill lands
        texts = h.lines("web.1", "heroku")
        i = texts.index(r10.text)
        assert texts[i + 1 : i + 4] == [
            "Stopping process with SIGKILL",
            "Process exited with status 137",
            "State changed from starting to crashed",
        ]
        # first crash: straight back to starting; the second R10 then waits in crashed (back-off)
        await h.wait_line("web.1", "State changed from crashed to starting")
        await h.wait_for(
            lambda: h.lines("web.1").count("State changed from starting to crashed") == 2, timeout=5
        )
        info = h.manager.dyno("demo", "web.1")
        assert info.state == "crashed" and info.port is None
    finally:
        await h.close()


async def test_r12_exit_timeout_then_sigkill_and_stop_brings_it_back(h: Harness) -> None:
    await h.manager.apply(h.desired(worker=(cmd("ignore-term"), 1)))
    await h.wait_line("worker.1", "started")
    assert await h.manager.stop("demo", "worker.1") == ["worker.1"]
    term = await h.wait_line("worker.1", "Stopping all processes with SIGTERM")
    await h.wait_line("worker.1", "ignoring SIGTERM")
    r12 = await h.wait_line("worker.1", "Error R12", timeout=5)
    assert r12.text == "Error R12 (Exit timeout) -> Process failed to exit within 1 seconds of SIGTERM"
    assert 0.95 <= r12.at - term.at < 1.5
    await h.wait_line("worker.1", "State changed from starting to up", after=r12.at)  # back after the kill
    texts = h.lines("worker.1", "heroku")
    i = texts.index(r12.text)
    assert texts[i - 2 : i + 6] == [
        "State changed from up to down",
        "Stopping all processes with SIGTERM",
        r12.text,
        "Stopping process with SIGKILL",
        "Process exited with status 137",
        "State changed from down to starting",
        f"Starting process with command `{cmd('ignore-term')}`",
        "State changed from starting to up",
    ]


async def test_restart_lines_and_targets(h: Harness) -> None:
    await h.manager.apply(h.desired(web=(cmd("web"), 2), worker=(cmd("sleep"), 1)))
    await h.wait_all_up("demo", 3)
    old_port = h.manager.dyno("demo", "web.1").port
    assert await h.manager.restart("demo", "web") == ["web.1", "web.2"]
    mark = time.monotonic()
    await h.wait_line("web.1", "Process exited with status 0")
    await h.wait_all_up("demo", 3)
    assert h.state_changes("web.1")[2:] == [
        "Restarting",
        "State changed from up to starting",
        "Stopping all processes with SIGTERM",
        f"Starting process with command `{cmd('web')}`",
        "Process exited with status 0",
        "State changed from starting to up",
    ] or h.state_changes("web.1")[2:] == [  # the new process may come up before the old one exits
        "Restarting",
        "State changed from up to starting",
        "Stopping all processes with SIGTERM",
        f"Starting process with command `{cmd('web')}`",
        "State changed from starting to up",
        "Process exited with status 0",
    ]
    assert h.manager.dyno("demo", "web.1").port != old_port
    assert not h.find("worker.1", "Restarting", after=mark - 1)
    assert await h.manager.restart("demo", "worker.1") == ["worker.1"]
    assert await h.manager.restart("demo") == ["web.1", "web.2", "worker.1"]
    with pytest.raises(PaasError) as err:
        await h.manager.restart("demo", "web.9")
    assert err.value.status == 404
    with pytest.raises(PaasError):
        await h.manager.stop("demo", "nope")
    await h.wait_all_up("demo", 3)


async def test_kill_is_a_real_crash(h: Harness) -> None:
    await h.manager.apply(h.desired(worker=(cmd("sleep"), 1)))
    await h.wait_line("worker.1", "sleeping")
    await h.manager.kill("demo", "worker.1", signal.SIGKILL)
    await h.wait_line("worker.1", "Process exited with status 137")
    await h.wait_line("worker.1", "State changed from up to crashed")
    await h.wait_line("worker.1", "State changed from crashed to starting")
    await h.wait_state("demo", "worker.1", "up")
    with pytest.raises(PaasError):
        await h.manager.kill("demo", "worker.7")


async def test_new_release_restarts_every_dyno_with_new_config(h: Harness) -> None:
    await h.manager.apply(h.desired(web=(cmd("web"), 2), config={"GREETING": "v3"}))
    await h.wait_all_up("demo", 2)
    await h.manager.apply(h.desired(web=(cmd("web"), 2), config={"GREETING": "v3"}))  # same release: no-op
    await asyncio.sleep(0.2)
    assert not h.find("web.1", "Restarting")
    await h.manager.apply(h.desired(release=4, web=(cmd("web"), 2), config={"GREETING": "v4"}))
    for name in ("web.1", "web.2"):
        await h.wait_line(name, "Restarting")
    await h.wait_for(
        lambda: all(d.state == "up" and d.release == 4 for d in h.manager.dynos("demo")), what="v4 up"
    )
    for d in h.manager.dynos("demo"):
        assert d.port is not None
        assert await http_get(d.port) == f"{d.name} v4\n"
    # a size change restarts that type only
    await h.manager.apply(h.desired(release=4, web=(cmd("web"), 2, "standard-2x"), config={"GREETING": "v4"}))
    await h.wait_for(
        lambda: all(d.size == "standard-2x" and d.state == "up" for d in h.manager.dynos("demo"))
    )


async def test_nothing_runs_without_a_release(h: Harness) -> None:
    await h.manager.apply(h.desired(release=0, web=(cmd("web"), 2)))
    await h.manager.apply(h.desired(app="other", web=(cmd("web"), 1)).__class__("other", 5, None, {}, ()))
    await asyncio.sleep(0.2)
    assert h.manager.dynos() == []
    await h.manager.apply(h.desired(web=(cmd("web"), 1)))
    await h.wait_all_up("demo", 1)
    await h.manager.remove_app("demo")
    assert h.manager.dynos("demo") == []
    await h.wait_line("web.1", "Process exited with status 0")


async def test_daily_cycling(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", cycle_interval=1.0).start()
    try:
        await h.manager.apply(h.desired(worker=(cmd("sleep"), 1)))
        started = await h.wait_line("worker.1", "State changed from starting to up")
        cycling = await h.wait_line("worker.1", "Cycling", timeout=5)
        assert 1.0 <= cycling.at - started.at < 1.0 + 0.15 + 0.8  # 1 s + jitter up to 216/1440 of it
        texts = h.lines("worker.1", "heroku")
        i = texts.index("Cycling")
        await h.wait_line("worker.1", "Process exited with status 0", after=cycling.at)
        texts = h.lines("worker.1", "heroku")
        assert texts[i : i + 4] == [
            "Cycling",
            "State changed from up to starting",
            "Stopping all processes with SIGTERM",
            f"Starting process with command `{cmd('sleep')}`",
        ]
    finally:
        await h.close()


async def test_shutdown_stops_everything(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home").start()
    await h.manager.apply(h.desired(web=(cmd("web"), 2), worker=(cmd("ignore-term"), 1)))
    await h.wait_all_up("demo", 3)
    await h.wait_line("worker.1", "started")  # its SIGTERM handler is in place
    pids = [d.pid for d in h.manager.dynos("demo")]
    t0 = time.monotonic()
    await h.close()
    assert time.monotonic() - t0 < 3  # stop_timeout=1: in parallel, not one after the other
    assert "Error R12 (Exit timeout) -> Process failed to exit within 1 seconds of SIGTERM" in h.lines(
        "worker.1"
    )
    for pid in pids:
        assert pid is not None and not _alive(pid)
    assert h.runtime.live_count == 0
    if h.runtime.name == "docker":
        assert own_containers(h.home) == []
    else:
        assert list((h.settings.dynos_dir / "process" / "registry").iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def test_missing_slug_is_a_platform_error_and_a_new_release_recovers(h: Harness) -> None:
    await h.manager.apply(h.desired(worker=(cmd("sleep"), 1), slug=h.home.parent / "no-such-slug"))
    r99 = await h.wait_line("worker.1", "Error R99 (Platform error)")
    assert "the slug for release v3 is missing" in r99.text
    await h.wait_state("demo", "worker.1", "crashed")
    await h.manager.apply(h.desired(release=4, worker=(cmd("sleep"), 1)))
    await h.wait_state("demo", "worker.1", "up")
    await h.wait_line("worker.1", "sleeping")
