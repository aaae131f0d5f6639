"""One supervisor task per formation dyno (web.1, worker.2...): Heroku's lifecycle as a state machine.

States (published as `dyno.state` on the bus, with the Heroku log line where Heroku writes one):

    starting ──(web: $PORT accepts a connection / other: at once)──► up
    starting ──(boot timeout: R10, SIGKILL)──────────────────────────► crashed
    up/starting ──(process exits, any status, even 0)────────────────► crashed
    up ──(memory over 2× quota: R15, SIGKILL)────────────────────────► crashed
    crashed ──(first crash: at once; then after a doubling back-off)──► starting
    up ──(restart / new release / daily cycle)───────────────────────► starting   (old process
                                            gets SIGTERM in the background; the new one starts now)
    up ──(ps:stop / scale down / daemon exit)──► stopping ──(exit)──► down [──► starting if kept]

The move away from `up` is published *before* any signal is sent, so the router stops
sending new requests the moment a dyno is told to go.

Crash back-off: the first crash restarts immediately; each further consecutive crash waits
crash_backoff_max/2, then doubles, capped at crash_backoff_max (Heroku: "up to 20 minutes";
older docs 10 → 20 min). A restart, a new release or a run longer than crash_backoff_max
resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from common.config import Settings
from common.events import EventBus
from dynos.metrics import RuntimeMetrics
from dynos.output import LineBudget, LineSplitter
from dynos.runtimes.base import DynoProcess, DynoSpec, Runtime, SpawnError
from dynos.runtimes.sockets import Listener
from dynos.types import DynoInfo

log = logging.getLogger(__name__)

PROBE_FIRST = 0.01  # first $PORT probe after launch, then x1.5 up to PROBE_MAX
PROBE_MAX = 0.1  # a refused loopback connect costs microseconds
R14_REPEAT = 20.0  # while over quota, R14 is repeated at most this often (seconds)
JITTER_MAX_FRACTION = 216 * 60 / 86400  # Heroku: 24 h + up to 216 min


class Request(enum.IntEnum):
    """What the manager asks of a supervisor; a higher value wins over a pending lower one."""

    RESTART = 1
    STOP = 2  # stop the process, then start again (ps:stop on a formation dyno)
    RETIRE = 3  # stop for good (scale down, app removed, daemon exit)


@dataclass
class Pending:
    kind: Request
    reason: str | None = None  # "Restarting" / "Cycling": the line logged first
    spec: DynoSpec | None = None  # new release, size or config
    reset_backoff: bool = False


@dataclass(frozen=True)
class Context:
    """What every supervisor shares: settings, the runtime and the two outputs."""

    settings: Settings
    runtime: Runtime
    bus: EventBus
    heroku_line: Callable[[str, str, str], None]  # (app, dyno, text) -> heroku[dyno] line
    app_line: Callable[[str, str, str], None]  # (app, dyno, text) -> app[dyno] line
    # the app's id when it enabled log-runtime-metrics (asked at each sample), else None
    runtime_metrics: Callable[[str], str | None] = lambda _app: None
    # awaited between leaving `up` and SIGTERM: routers in other processes have dropped us
    route_barrier: Callable[[], Awaitable[object]] | None = None


def fmt_seconds(value: float) -> str:
    """60.0 -> '60', 2.5 -> '2.5': how the timer appears in R10 / R12 lines."""
    return f"{value:g}"


def spawn_failure(exc: BaseException) -> str:
    """The R99 text for a dyno that could not be created; unexpected errors are logged in full."""
    if isinstance(exc, SpawnError):
        return str(exc)
    log.error("dyno spawn failed", exc_info=exc)
    return f"could not start the dyno ({exc.__class__.__name__}: {exc})"


def snapshot(
    app: str,
    name: str,
    spec: DynoSpec,
    state: str,
    proc: DynoProcess | None,
    since: float,
    memory: int,
    restarts: int = 0,
) -> DynoInfo:
    """What the API, the router table and the TUI see of a formation or one-off dyno."""
    return DynoInfo(
        app=app,
        name=name,
        type=spec.type,
        state=state,
        command=spec.command,
        release=spec.release,
        size=spec.size.name,
        port=proc.port if proc else None,
        host=proc.host if proc else "127.0.0.1",
        since=since,
        memory_bytes=memory,
        pid=proc.pid if proc else None,
        container=proc.container if proc else None,
        restarts=restarts,
    )


def publish_state(
    ctx: Context, app: str, name: str, spec: DynoSpec, proc: DynoProcess | None, new: str, old: str | None
) -> None:
    """The `dyno.state` event every part subscribes to (a `down` dyno has no port to route to)."""
    ctx.bus.emit(
        "dyno.state",
        app,
        dyno=name,
        type=spec.type,
        state=new,
        previous=old,
        port=proc.port if proc and new != "down" else None,
        host=proc.host if proc else "127.0.0.1",
        release=spec.release,
    )


def report_oom_kill(proc: DynoProcess, last_memory: int, quota: int, heroku: Callable[[str], None]) -> None:
    """The runtime enforced the hard limit itself (Docker: mem_limit, the kernel's OOM kill in
    the container): write the same R15 lines as when the memory watch catches it first."""
    if getattr(proc, "oom_killed", False):
        heroku(memory_line(max(last_memory, getattr(proc, "peak_memory", 0)), quota))
        heroku("Error R15 (Memory quota vastly exceeded)")
        heroku("Stopping process with SIGKILL")


def memory_line(used: int, quota: int) -> str:
    return f"Process running mem={used // (1024 * 1024)}M({used * 100 / quota:.1f}%)"


class MemoryWatch:
    """R14 / R15 from one dyno's memory figures (its whole process tree)."""

    def __init__(self, quota: int, hard_limit: int, say: Callable[[str], None]):
        self.quota = quota
        self.hard_limit = hard_limit
        self.say = say
        self.last_r14 = -1e18

    def observe(self, used: int, now: float) -> bool:
        """Log R14 (at most every R14_REPEAT s) or R15; True means R15: kill the dyno now."""
        if used > self.hard_limit:
            self.say(memory_line(used, self.quota))
            self.say("Error R15 (Memory quota vastly exceeded)")
            return True
        if used > self.quota and now - self.last_r14 >= R14_REPEAT:
            self.last_r14 = now
            self.say(memory_line(used, self.quota))
            self.say("Error R14 (Memory quota exceeded)")
        return False


class NetworkWatch:
    """Where one dyno process listens, said once per finding.

    On the host's network (process dynos) a socket bound beyond loopback (0.0.0.0, ::, a LAN
    address) lets other machines reach the dyno directly, past the router: no H-codes, no log
    line, no maintenance page. In a namespace of its own (container dynos) only the published
    $PORT is reachable, and only if the app listens beyond its own loopback there.
    """

    def __init__(self, spec: DynoSpec, port: int | None, isolated: bool, say: Callable[[str], None]):
        self.spec = spec
        self.port = port
        self.isolated = isolated
        self.say = say
        self.reported: set[tuple[str, int]] = set()
        self.loopback_noted = False

    def observe(self, listeners: list[Listener] | None, starting: bool) -> None:
        for sock in listeners or []:
            if self.isolated or sock.loopback or (sock.host, sock.port) in self.reported:
                continue
            self.reported.add((sock.host, sock.port))
            self.say(
                f"Warning: process listens on {sock}, beyond loopback: other machines can reach this "
                "dyno directly, past the router. Bind 127.0.0.1 (or run dynos in containers: "
                "PAAS_RUNTIME=docker)"
            )
        if self.isolated and starting and self.port is not None and not self.loopback_noted:
            on_port = [s for s in listeners or [] if s.port == self.port]
            if on_port and all(s.loopback for s in on_port):
                self.loopback_noted = True
                self.say(
                    f"Process listens on {on_port[0]} inside its container, where the router cannot "
                    "reach it: bind 0.0.0.0:$PORT ($HOST)"
                )


async def listeners_of(proc: DynoProcess) -> list[Listener] | None:
    """The runtime's view of what the dyno listens on (None when it cannot tell)."""
    listeners = getattr(proc, "listeners", None)
    if listeners is None:
        return None
    found: list[Listener] | None = await listeners()
    return found


def network_watch(spec: DynoSpec, proc: DynoProcess, say: Callable[[str], None]) -> NetworkWatch:
    return NetworkWatch(spec, proc.port, bool(getattr(proc, "isolated", False)), say)


def runtime_adopts(runtime: Runtime, spec: DynoSpec) -> bool:
    """Will `spawn(spec)` take over a dyno that is already running (after a daemon restart)?"""
    adopts = getattr(runtime, "adopts", None)
    return bool(adopts(spec)) if adopts is not None else False


@dataclass
class _Timers:
    """The deadlines of one process's watch loop (loop time, seconds)."""

    boot_deadline: float
    next_probe: float
    probe_every: float
    check_every: float
    next_check: float
    cycle_at: float | None

    def probed(self, now: float) -> None:
        self.probe_every = min(PROBE_MAX, self.probe_every * 1.5)
        self.next_probe = now + self.probe_every

    def next_wakeup(self, starting: bool) -> float:
        deadlines = [self.next_check]
        if starting:
            deadlines += [self.next_probe, self.boot_deadline]
        if self.cycle_at is not None:
            deadlines.append(self.cycle_at)
        return min(deadlines)


class Supervisor:
    def __init__(self, ctx: Context, spec: DynoSpec):
        self.ctx = ctx
        self.spec = spec
        self.state: str | None = None  # None until the first start
        self.since = time.time()
        self.proc: DynoProcess | None = None
        self.memory = 0
        self.restarts = 0  # processes started after the first
        self.crashes = 0  # consecutive crashes (for the back-off)
        self.generation = 0
        self._pending: Pending | None = None
        self.wake = asyncio.Event()
        self._draining: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.backoff_until: float | None = None  # epoch seconds while waiting in `crashed`
        self.log_budget = LineBudget()  # per dyno, across restarts: a crash loop cannot reset it

    # ---- public ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def app(self) -> str:
        return self.spec.app

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"dyno {self.app} {self.name}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def request(self, pending: Pending) -> None:
        """Ask for a restart / stop / retire. Non-blocking; the higher request wins."""
        current = self._pending
        if current is None or pending.kind >= current.kind:
            if current is not None:
                pending.spec = pending.spec or current.spec
                pending.reset_backoff = pending.reset_backoff or current.reset_backoff
            self._pending = pending
        else:  # keep the stronger request, but carry the newer spec along
            current.spec = pending.spec or current.spec
            current.reset_backoff = current.reset_backoff or pending.reset_backoff
        self.wake.set()

    async def retire(self) -> None:
        """Stop for good and wait until the process (and any draining ones) are gone."""
        self.request(Pending(Request.RETIRE))
        await self.join()

    async def join(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        while self._draining:
            await asyncio.gather(*list(self._draining), return_exceptions=True)

    def kill(self, sig: int) -> bool:
        """Send a signal to the running process (a deliberate crash). False if none runs."""
        proc = self.proc
        if proc is None:
            return False
        proc.signal(sig)
        return True

    def info(self) -> DynoInfo:
        return snapshot(
            self.app,
            self.name,
            self.spec,
            self.state or "starting",
            self.proc,
            self.since,
            self.memory,
            self.restarts,
        )

    # ---- plumbing ----------------------------------------------------------------------
    def heroku(self, text: str) -> None:
        self.ctx.heroku_line(self.app, self.name, text)

    def set_state(self, new: str, *, log_line: bool = True, shown_as: str | None = None) -> None:
        """Publish a state change; write Heroku's `State changed from a to b` line."""
        old = self.state
        if old == new:
            return
        self.state = new
        self.since = time.time()
        if log_line and old is not None:
            shown_old = "down" if old == "stopping" else old
            shown_new = shown_as or new
            if shown_old != shown_new:
                self.heroku(f"State changed from {shown_old} to {shown_new}")
        publish_state(self.ctx, self.app, self.name, self.spec, self.proc, new, old)

    def take_pending(self) -> Pending | None:
        pending, self._pending = self._pending, None
        self.wake.clear()
        return pending

    def _adopt(self, pending: Pending) -> None:
        if pending.spec is not None:
            self.spec = pending.spec
        if pending.reset_backoff:
            self.crashes = 0

    def backoff_delay(self) -> float:
        if self.crashes <= 1:
            return 0.0
        cap = self.ctx.settings.crash_backoff_max
        return float(min(cap, (cap / 2) * 2.0 ** (self.crashes - 2)))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early for any request."""
        if self._pending is not None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    # ---- the state machine -------------------------------------------------------------
    async def _run(self) -> None:
        try:
            delay = 0.0
            while True:
                await self._back_off(delay)
                if not self._take_request():
                    break
                outcome = await self._generation()
                delay = 0.0
                if outcome == "crash":
                    self.crashes += 1
                    delay = self.backoff_delay()
                elif outcome == "retire":
                    break
        except asyncio.CancelledError:
            proc = self.proc
            if proc is not None:
                proc.signal(signal.SIGKILL)
            raise
        except Exception:  # never leave a dyno unsupervised without saying why
            await self._supervisor_failed()
            return
        if self.state != "down":
            self.set_state("down")

    async def _back_off(self, delay: float) -> None:
        if delay > 0:
            self.backoff_until = time.time() + delay
            await self._sleep(delay)
            self.backoff_until = None

    def _take_request(self) -> bool:
        """Apply what was asked while no process ran; False when the dyno is retired."""
        pending = self.take_pending()
        if pending is None:
            return True
        self._adopt(pending)
        if pending.kind is Request.RETIRE:
            return False
        if pending.kind is Request.STOP and self.state == "crashed":
            self.set_state("down")
        if pending.kind is Request.RESTART:
            self.crashes = 0
            if pending.reason:
                self.heroku(pending.reason)
        return True

    async def _supervisor_failed(self) -> None:
        log.exception("supervisor for %s %s failed", self.app, self.name)
        self.heroku("Error R99 (Platform error) -> the dyno supervisor failed")
        proc = self.proc
        if proc is not None:
            proc.signal(signal.SIGKILL)
            await proc.wait()
            await proc.cleanup()
        self.proc = None
        self.set_state("crashed")

    async def _generation(self) -> str:
        """Run one process from launch to its end. Returns crash / restart / stop / retire."""
        spec = self.spec
        self.set_state("starting")
        if not runtime_adopts(self.ctx.runtime, spec):  # an adopted dyno keeps running: no start
            self.heroku(f"Starting process with command `{spec.command}`")
        proc = await self._spawn(spec)
        if proc is None:
            self.set_state("crashed")
            return "crash"
        if self.generation:
            self.restarts += 1
        self.generation += 1
        self.proc = proc
        self.memory = 0
        run = _ProcessRun(self, proc)
        if not spec.is_web:
            self.set_state("up")
        try:
            return await run.watch()
        finally:
            run.close()

    async def _spawn(self, spec: DynoSpec) -> DynoProcess | None:
        splitter = LineSplitter(
            lambda text: self.ctx.app_line(spec.app, spec.name, text),
            budget=self.log_budget,
            report=self.heroku,
        )
        try:
            return await self.ctx.runtime.spawn(spec, splitter.feed)
        except Exception as exc:  # SpawnError, or anything the runtime did not foresee
            self.heroku(f"Error R99 (Platform error) -> {spawn_failure(exc)}")
            return None

    async def exited(self, proc: DynoProcess, status: int, launched: float) -> str:
        """The process ended on its own: any exit is a crash, even status 0."""
        report_oom_kill(proc, self.memory, self.spec.size.quota_bytes, self.heroku)
        self.heroku(f"Process exited with status {status}")
        await proc.cleanup()
        self.proc = None
        self.memory = 0
        if asyncio.get_running_loop().time() - launched >= max(self.ctx.settings.crash_backoff_max, 1.0):
            self.crashes = 0  # it ran long enough: this is a fresh crash, not a crash loop
        self.set_state("crashed")
        return "crash"

    async def kill_crash(self, proc: DynoProcess, exit_task: asyncio.Task[int]) -> str:
        """R10 / R15: SIGKILL now, then crashed."""
        self.heroku("Stopping process with SIGKILL")
        proc.signal(signal.SIGKILL)
        status = await exit_task
        self.heroku(f"Process exited with status {status}")
        await proc.cleanup()
        self.proc = None
        self.memory = 0
        self.set_state("crashed")
        return "crash"

    async def handle(self, pending: Pending, proc: DynoProcess, exit_task: asyncio.Task[int]) -> str:
        if pending.kind is Request.RESTART:
            if pending.reason:
                self.heroku(pending.reason)
            # Heroku starts the replacement as soon as the old process is signalled.
            self.set_state("starting")  # published before SIGTERM: the router drops us now
            await self._routers_dropped_us()
            self._signal_term(proc)
            self.proc = None
            self._track(self._drain(proc, exit_task))
            self._adopt(pending)
            self.crashes = 0
            return "restart"
        # STOP / RETIRE: nothing new starts until the old process is gone.
        self.set_state("stopping", shown_as="down")
        await self._routers_dropped_us()
        self._signal_term(proc)
        await self._drain(proc, exit_task)
        self.proc = None
        self.memory = 0
        self.set_state("down", log_line=False)
        self._adopt(pending)
        return "retire" if pending.kind is Request.RETIRE else "stop"

    async def _routers_dropped_us(self) -> None:
        barrier = self.ctx.route_barrier
        if barrier is not None and self.spec.type == "web":
            await barrier()

    def _signal_term(self, proc: DynoProcess) -> None:
        self.heroku("Stopping all processes with SIGTERM")
        proc.signal(signal.SIGTERM)

    async def _drain(self, proc: DynoProcess, exit_task: asyncio.Task[int]) -> None:
        """Grace period after SIGTERM, then R12 and SIGKILL; logs the exit; cleans up."""
        grace = self.ctx.settings.stop_timeout
        try:
            status = await asyncio.wait_for(asyncio.shield(exit_task), grace)
        except TimeoutError:
            self.heroku(
                f"Error R12 (Exit timeout) -> Process failed to exit within {fmt_seconds(grace)} seconds of SIGTERM"
            )
            self.heroku("Stopping process with SIGKILL")
            proc.signal(signal.SIGKILL)
            status = await exit_task
        self.heroku(f"Process exited with status {status}")
        await proc.cleanup()

    def _track(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    def with_spec(self, **changes: object) -> DynoSpec:
        return replace(self.spec, **changes)  # type: ignore[arg-type]


class _ProcessRun:
    """One process of a supervised dyno, from launch to its end: the boot probe (up / R10),
    memory (R14 / R15) and listening checks, daily cycling, and the manager's requests."""

    def __init__(self, sup: Supervisor, proc: DynoProcess):
        self.sup = sup
        self.proc = proc
        settings = sup.ctx.settings
        self.loop = asyncio.get_running_loop()
        self.launched = self.loop.time()
        self.exit_task = self.loop.create_task(proc.wait())
        self.wake_task = self.loop.create_task(sup.wake.wait())
        cycle_at = None
        if settings.cycle_interval > 0:
            jitter = random.uniform(0, settings.cycle_interval * JITTER_MAX_FRACTION)
            cycle_at = self.launched + settings.cycle_interval + jitter
        check_every = settings.memory_check_interval if settings.memory_check_interval > 0 else 1.0
        self.timers = _Timers(
            boot_deadline=self.launched + settings.boot_timeout,
            next_probe=self.launched + PROBE_FIRST,
            probe_every=PROBE_FIRST,
            check_every=check_every,
            next_check=self.launched + check_every,
            cycle_at=cycle_at,
        )
        spec = sup.spec
        self.memory = MemoryWatch(spec.size.quota_bytes, spec.size.hard_limit_bytes, sup.heroku)
        self.network = network_watch(spec, proc, sup.heroku)
        self.metrics = RuntimeMetrics(
            spec.name, "", str(uuid.uuid4()), spec.size.quota_bytes, settings.runtime_metrics_interval
        )
        self.next_metrics = self.launched + settings.runtime_metrics_interval

    def close(self) -> None:
        self.wake_task.cancel()

    async def watch(self) -> str:
        while True:
            if self.exit_task.done():
                return await self.sup.exited(self.proc, self.exit_task.result(), self.launched)
            outcome = await self._step()
            if outcome is not None:
                return outcome
            timeout = max(0.0, self.timers.next_wakeup(self.sup.state == "starting") - self.loop.time())
            await asyncio.wait(
                {self.exit_task, self.wake_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )

    async def _step(self) -> str | None:
        """Whatever is due now; an outcome ends the process's run."""
        if self.wake_task.done():
            pending = self.sup.take_pending()
            self.wake_task = self.loop.create_task(self.sup.wake.wait())
            if pending is not None:
                return await self.sup.handle(pending, self.proc, self.exit_task)
        if self.sup.state == "starting":
            outcome = await self._boot()
            if outcome is not None:
                return outcome
        now = self.loop.time()
        if now >= self.timers.next_check:
            outcome = await self._check()
            if outcome is not None:
                return outcome
        if self.timers.cycle_at is not None and now >= self.timers.cycle_at:
            self.sup.heroku("Cycling")
            return await self.sup.handle(Pending(Request.RESTART), self.proc, self.exit_task)
        return None

    async def _boot(self) -> str | None:
        """Probe $PORT while starting: up when it accepts, R10 at the boot timeout."""
        timers = self.timers
        if self.loop.time() >= timers.next_probe:
            if await self.proc.probe():
                self.sup.set_state("up")
                self.network.observe(await listeners_of(self.proc), starting=False)
                return None
            timers.probed(self.loop.time())
        if self.loop.time() >= timers.boot_deadline and not self.exit_task.done():
            boot = self.sup.ctx.settings.boot_timeout
            self.sup.heroku(
                "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                f"{fmt_seconds(boot)} seconds of launch"
            )
            return await self.sup.kill_crash(self.proc, self.exit_task)
        return None

    def _sample_metrics(self, now: float) -> None:
        """log-runtime-metrics: the load and memory lines, once per interval while enabled."""
        every = self.sup.ctx.settings.runtime_metrics_interval
        if every <= 0 or now < self.next_metrics:
            return
        self.next_metrics = now + every
        app_id = self.sup.ctx.runtime_metrics(self.sup.app)
        if app_id is None:
            return
        self.metrics.dyno_id = f"heroku.{app_id}.{self.metrics.dyno_uuid}"
        for line in self.metrics.lines(self.proc.pid, self.proc.container is not None):
            self.sup.heroku(line)

    async def _check(self) -> str | None:
        """Memory (R14 / R15) and where the dyno listens, every check interval."""
        now = self.loop.time()
        self.timers.next_check = now + self.timers.check_every
        self.network.observe(await listeners_of(self.proc), starting=self.sup.state == "starting")
        self._sample_metrics(now)
        if self.sup.ctx.settings.memory_check_interval <= 0:
            return None
        self.sup.memory = used = await self.proc.memory()
        if self.memory.observe(used, now):
            return await self.sup.kill_crash(self.proc, self.exit_task)
        return None
