"""One-off dynos on real processes: detached to the log, attached with pipes or a pty."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import PaasError
from dynos.oneoff import OneOff
from tests.integration.test_dynos_harness import Harness
from tests.support.runtimes import dyno_runtime, python  # noqa: F401  (fixture: process and docker)

pytestmark = pytest.mark.usefixtures("dyno_runtime")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await Harness(tmp_path / "home").start()
    try:
        yield harness
    finally:
        await harness.close()


async def collect(run: OneOff) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    async for stream, chunk in run.output():
        (err if stream == "stderr" else out).extend(chunk)
    return bytes(out), bytes(err)


async def test_detached_run_logs_and_completes(h: Harness) -> None:
    desired = h.desired(config={"GREETING": "hello"}, web=("true", 0))
    run = await h.manager.run_oneoff(
        desired, 'echo "$GREETING $EXTRA from $DYNO"; exit 5', attach=False, env={"EXTRA": "and more"}
    )
    assert re.fullmatch(r"run\.\d{4}", run.name)
    assert [d.name for d in h.manager.dynos("demo")] == [run.name]
    assert await asyncio.wait_for(run.wait(), 10) == 5
    assert h.lines(run.name, "app") == [f"hello and more from {run.name}"]
    assert h.lines(run.name, "heroku") == [
        """Starting process with command `echo "$GREETING $EXTRA from $DYNO"; exit 5`""",
        "State changed from starting to up",
        "Process exited with status 5",
        "State changed from up to complete",
    ]
    assert h.lines("api", "app") == [
        """Starting process with command `echo "$GREETING $EXTRA from $DYNO"; exit 5` by user local@paas"""
    ]
    assert h.manager.dynos("demo") == []
    states = [e.data["state"] for _, e in h.events if e.data["dyno"] == run.name]
    assert states == ["starting", "up", "complete"]


async def test_attached_pipes_stdin_stdout_stderr_and_status(h: Harness) -> None:
    run = await h.manager.run_oneoff(h.desired(), "cat; echo oops >&2; exit 7", attach=True)
    assert h.lines(run.name, "heroku") == ["Awaiting client"]
    await run.start(tty=False)
    await run.write(b"hello\nworld\n")
    run.close_stdin()
    out, err = await asyncio.wait_for(collect(run), 10)
    assert out == b"hello\nworld\n"
    assert err == b"oops\n"
    assert await run.wait() == 7
    assert h.lines(run.name, "app") == []  # attached output goes to the client, not the log


async def test_attached_pty_is_a_terminal_and_ctrl_c_interrupts(h: Harness) -> None:
    script = (
        "import os,sys,time; print(sys.stdin.isatty(), os.get_terminal_size(0), flush=True); time.sleep(30)"
    )
    run = await h.manager.run_oneoff(h.desired(), f'{python()} -c "{script}"', attach=True)
    await run.start(tty=True, rows=40, cols=100)
    seen = bytearray()
    output = run.output()
    async for _, chunk in output:
        seen += chunk
        if b"\n" in seen:
            break
    assert seen.startswith(b"True os.terminal_size(columns=100, lines=40)"), seen
    await run.write(b"\x03")  # Ctrl-C through the terminal: SIGINT to the foreground group
    assert await asyncio.wait_for(run.wait(), 10) == 130


async def test_pty_resize_reaches_the_process(h: Harness) -> None:
    script = (
        "import os,signal,sys,time\n"
        "signal.signal(signal.SIGWINCH, lambda *a: print('size', os.get_terminal_size(0).lines, flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    (h.slug_dir / "winch.py").write_text(script)
    run = await h.manager.run_oneoff(h.desired(), f"{python()} winch.py", attach=True)
    await run.start(tty=True)
    seen = bytearray()
    async for _, chunk in run.output():
        seen += chunk
        if b"ready" in seen and b"size" not in seen:
            run.resize(50, 120)
        if b"size 50" in seen:
            break
    run.signal(9)
    assert await run.wait() == 137


async def test_client_gone_sends_sighup_then_r16(h: Harness) -> None:
    run = await h.manager.run_oneoff(h.desired(), "sleep 30", attach=True)
    await run.start(tty=False)
    await run.client_gone()
    assert await run.wait() == 129
    assert "Client connection closed. Sending SIGHUP to all processes" in h.lines(run.name)

    stubborn = f"{python()} -c \"import signal,time; signal.signal(signal.SIGHUP, signal.SIG_IGN); print('x', flush=True); time.sleep(30)\""
    run2 = await h.manager.run_oneoff(h.desired(), stubborn, attach=True)
    await run2.start(tty=False)
    async for _, chunk in run2.output():
        if b"x" in chunk:
            break
    await run2.client_gone()
    assert await run2.wait() == 137
    texts = h.lines(run2.name, "heroku")
    assert any(t.startswith("Error R16 (Detached)") for t in texts)
    assert "Stopping process with SIGKILL" in texts


async def test_attach_timeout_is_r13(h: Harness) -> None:
    h.manager.attach_timeout = 0.3
    run = await h.manager.run_oneoff(h.desired(), "echo never", attach=True)
    assert await asyncio.wait_for(run.wait(), 5) == 1
    assert h.lines(run.name, "heroku") == [
        "Awaiting client",
        "Error R13 (Attach error) -> Failed to attach to process",
        "State changed from starting to crashed",
    ]
    assert h.manager.dynos("demo") == []


async def test_stop_a_one_off_and_bad_input(h: Harness) -> None:
    run = await h.manager.run_oneoff(h.desired(), "sleep 30", attach=False)
    await h.wait_state("demo", run.name, "up")
    assert await h.manager.stop("demo", run.name) == [run.name]
    assert await asyncio.wait_for(run.wait(), 5) == 143
    for bad in (
        {"command": "  "},
        {"command": "ls", "size": "huge-9x"},
        {"command": "ls", "env": {"1BAD": "x"}},
    ):
        with pytest.raises(PaasError) as err:
            await h.manager.run_oneoff(
                h.desired(),
                bad["command"],  # type: ignore[arg-type]
                attach=False,
                size=bad.get("size", "standard-1x"),  # type: ignore[arg-type]
                env=bad.get("env"),  # type: ignore[arg-type]
            )
        assert err.value.status == 422


async def test_one_off_on_an_app_without_a_release(h: Harness) -> None:
    desired = h.desired(release=0).__class__("blank", 0, None, {}, ())
    run = await h.manager.run_oneoff(desired, "pwd; ls -A | wc -l", attach=False)
    assert await asyncio.wait_for(run.wait(), 5) == 0
    assert h.lines(run.name, "app")[1] == "0"
