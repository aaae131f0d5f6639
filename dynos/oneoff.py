"""One-off dynos (`paas run`, `run:detached`, the release phase): run once, never restarted.

Attached (`attach=True`): the dyno waits for its client (`Awaiting client`) and starts when
`start()` is called with the client's terminal (a pty when the caller has a TTY, pipes
otherwise). The client reads `output()` (flow-controlled: the dyno's output is paused while
too much is unread), writes with `write()`, resizes with `resize()`, and gets the status from
`wait()`. If the client goes away first, the dyno gets SIGHUP (`client_gone()`), then R16 and
SIGKILL after the grace period. No client within `attach_timeout` → R13.

Detached (`attach=False`): output becomes `app[run.N]` log lines, like any dyno.

States: starting → up → complete (crashed only when it could not start).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from dynos.output import LineBudget, LineSplitter
from dynos.runtimes.base import DynoProcess, DynoSpec, OutputCallback
from dynos.supervisor import (
    JITTER_MAX_FRACTION,
    Context,
    MemoryWatch,
    fmt_seconds,
    listeners_of,
    network_watch,
    publish_state,
    report_oom_kill,
    snapshot,
    spawn_failure,
)
from dynos.types import DynoInfo

OUTPUT_HIGH_WATER = 1 << 20  # pause the dyno's output while this many bytes are unread
OUTPUT_LOW_WATER = 1 << 18


class OneOff:
    def __init__(
        self,
        ctx: Context,
        spec: DynoSpec,
        *,
        attach: bool,
        attach_timeout: float,
        on_done: Callable[[OneOff], None],
    ):
        self.ctx = ctx
        self.spec = spec
        self.attach = attach
        self.attach_timeout = attach_timeout
        self._on_done = on_done
        self.state = "starting"
        self.since = time.time()
        self.created = self.since
        self.proc: DynoProcess | None = None
        self.status: int | None = None
        self.tty = False
        self._done = asyncio.Event()
        self._started = False
        self._stopping = False
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._queued_bytes = 0
        self._paused = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.memory = 0
        self._deadline: asyncio.Task[None] | None = None
        if attach:
            self._heroku("Awaiting client")
            self._deadline = asyncio.get_running_loop().create_task(self._attach_deadline())
        self._emit(None)

    # ---- identity ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def app(self) -> str:
        return self.spec.app

    @property
    def command(self) -> str:
        return self.spec.command

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def info(self) -> DynoInfo:
        return snapshot(self.app, self.name, self.spec, self.state, self.proc, self.since, self.memory)

    # ---- plumbing ----------------------------------------------------------------------
    def _heroku(self, text: str) -> None:
        self.ctx.heroku_line(self.app, self.name, text)

    def _emit(self, previous: str | None) -> None:
        publish_state(self.ctx, self.app, self.name, self.spec, self.proc, self.state, previous)

    def _set_state(self, new: str) -> None:
        old = self.state
        if old == new:
            return
        self.state = new
        self.since = time.time()
        self._heroku(f"State changed from {old} to {new}")
        self._emit(old)

    def _spawn_task(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self, *, tty: bool = False, rows: int = 24, cols: int = 80) -> None:
        """Launch the process (attached: once the client is connected). Idempotent."""
        if self._started or self.done:
            return
        self._started = True
        if self._deadline is not None:
            self._deadline.cancel()
        if self.attach:
            self.tty = tty
            spec = replace(self.spec, stdio="pty" if tty else "pipes", tty_rows=rows, tty_cols=cols)
            output: OutputCallback = self._queue_output
        else:
            spec = self.spec
            splitter = LineSplitter(
                lambda text: self.ctx.app_line(self.app, self.name, text),
                budget=LineBudget(),
                report=self._heroku,
            )
            output = splitter.feed
        self.spec = spec
        self._heroku(f"Starting process with command `{spec.command}`")
        try:
            proc = await self.ctx.runtime.spawn(spec, output)
        except Exception as exc:  # SpawnError, or anything the runtime did not foresee
            self._heroku(f"Error R99 (Platform error) -> {spawn_failure(exc)}")
            self._finish_without_process("crashed", 1)
            return
        self.proc = proc
        self._set_state("up")
        self._spawn_task(self._watch(proc))

    async def _attach_deadline(self) -> None:
        await asyncio.sleep(self.attach_timeout)
        self.attach_failed()

    def attach_failed(self) -> None:
        """No usable client came (none in time, or one that did not say how to start): R13,
        and the dyno is over before its process ever started."""
        if not self._started and not self.done:
            self._started = True
            self._heroku("Error R13 (Attach error) -> Failed to attach to process")
            self._finish_without_process("crashed", 1)

    def _finish_without_process(self, state: str, status: int) -> None:
        if self._deadline is not None and self._deadline is not asyncio.current_task():
            self._deadline.cancel()
        self.status = status
        self._set_state(state)
        self._queue.put_nowait(None)
        self._done.set()
        self._on_done(self)

    async def _watch(self, proc: DynoProcess) -> None:
        """Memory (R14/R15, like formation dynos) and daily cycling until the process ends."""
        settings = self.ctx.settings
        loop = asyncio.get_running_loop()
        interval = settings.memory_check_interval
        memory = MemoryWatch(self.spec.size.quota_bytes, self.spec.size.hard_limit_bytes, self._heroku)
        network = network_watch(self.spec, proc, self._heroku)  # a one-off web server is exposed too
        cycle_at = None
        if settings.cycle_interval > 0:  # one-offs are cycled too; they are not restarted
            cycle_at = (
                loop.time()
                + settings.cycle_interval
                + random.uniform(0, settings.cycle_interval * JITTER_MAX_FRACTION)
            )
        wait_task = loop.create_task(proc.wait())
        while not wait_task.done():
            deadlines = [loop.time() + interval] if interval > 0 else []
            if cycle_at is not None:
                deadlines.append(cycle_at)
            timeout = max(0.0, min(deadlines) - loop.time()) if deadlines else None
            await asyncio.wait({wait_task}, timeout=timeout)
            if wait_task.done():
                break
            if interval > 0:
                network.observe(await listeners_of(proc), starting=False)
                self.memory = used = await proc.memory()
                if memory.observe(used, loop.time()):
                    self._heroku("Stopping process with SIGKILL")
                    proc.signal(signal.SIGKILL)
                    continue
            if cycle_at is not None and loop.time() >= cycle_at:
                cycle_at = None
                self._heroku("Cycling")
                self._spawn_task(self.stop())
        status = wait_task.result()
        self.status = status
        report_oom_kill(proc, self.memory, self.spec.size.quota_bytes, self._heroku)
        self._heroku(f"Process exited with status {status}")
        await proc.cleanup()
        self._set_state("complete")
        self._queue.put_nowait(None)
        self._done.set()
        self._on_done(self)

    async def wait(self) -> int:
        await self._done.wait()
        return self.status if self.status is not None else 1

    # ---- attached I/O ------------------------------------------------------------------
    def _queue_output(self, stream: str, data: bytes) -> None:
        if not data:
            return  # end of stream: the None after exit marks the end for the client
        self._queue.put_nowait((stream, data))
        self._queued_bytes += len(data)
        if self._queued_bytes > OUTPUT_HIGH_WATER and not self._paused and self.proc is not None:
            self._paused = True
            self.proc.pause_output()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """(stream, bytes) chunks until the dyno is over. One consumer."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            self._queued_bytes -= len(item[1])
            if self._paused and self._queued_bytes < OUTPUT_LOW_WATER and self.proc is not None:
                self._paused = False
                self.proc.resume_output()
            yield item

    async def write(self, data: bytes) -> None:
        if self.proc is not None and not self.done:
            await self.proc.write_stdin(data)

    def close_stdin(self) -> None:
        if self.proc is not None and not self.done:
            self.proc.close_stdin()

    def resize(self, rows: int, cols: int) -> None:
        if self.proc is not None and not self.done:
            self.proc.resize(rows, cols)

    def signal(self, sig: int) -> bool:
        if self.proc is None or self.done:
            return False
        self.proc.signal(sig)
        return True

    async def client_gone(self) -> None:
        """The attached client disconnected before the end: SIGHUP, then R16 + SIGKILL."""
        if self.done:
            return
        if self.proc is None:
            self._started = True
            self._finish_without_process("complete", 129)
            return
        self._heroku("Client connection closed. Sending SIGHUP to all processes")
        self.proc.signal(signal.SIGHUP)
        grace = self.ctx.settings.stop_timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._done.wait()), grace)
            return
        if not self.done and self.proc is not None:
            self._heroku(
                "Error R16 (Detached) -> An attached process is not responding to SIGHUP after its "
                f"external connection was closed ({fmt_seconds(grace)} seconds)"
            )
            self._heroku("Stopping process with SIGKILL")
            self.proc.signal(signal.SIGKILL)
            await self._done.wait()

    async def stop(self) -> None:
        """ps:stop / daemon exit: SIGTERM, grace, then R12 + SIGKILL."""
        if self.done:
            return
        if self.proc is None:
            self._started = True
            self._finish_without_process("complete", 143)
            return
        if self._stopping:
            await self._done.wait()
            return
        self._stopping = True
        self._heroku("Stopping all processes with SIGTERM")
        self.proc.signal(signal.SIGTERM)
        grace = self.ctx.settings.stop_timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._done.wait()), grace)
        except TimeoutError:
            self._heroku(
                f"Error R12 (Exit timeout) -> Process failed to exit within {fmt_seconds(grace)} seconds of SIGTERM"
            )
            self._heroku("Stopping process with SIGKILL")
            if self.proc is not None:
                self.proc.signal(signal.SIGKILL)
            await self._done.wait()
