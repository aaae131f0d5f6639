"""DockerRuntime: each dyno is one container on a local Docker engine.

Same contract as `ProcessRuntime` (see `dynos/runtimes/base.py`), so the supervisor's
lifecycle, log lines and timers are identical; what differs is only the mechanism:

* **Image and filesystem.** Slug dynos run on the stack image (`settings.stack_image`, else
  the locally built `paas/stack:local`, see `dynos/stack.py`). The slug is bind-mounted
  read-only at `/slug` and copied into the container's own writable layer at `/app` when it
  starts, so every dyno has a private, ephemeral filesystem that vanishes with the container.
  Container deploys (`spec.docker_image`) run their own image instead.
* **Network.** Host networking: the runtime picks a free `$PORT` on the host, the app binds it,
  and the router connects to 127.0.0.1:$PORT directly, with no userland proxy in between, so a
  refused or dropped connection is the app's own (H13/H20 come from real sockets). Add-ons on
  127.0.0.1 (Postgres, Kafka) are reachable from the dyno exactly as from a process dyno.
* **Signals.** `init=True` puts the engine's tini at PID 1 with `TINI_KILL_PROCESS_GROUP=1`:
  SIGTERM reaches every process of the dyno's group (like `killpg` in the process runtime), a
  main process killed by signal N gives exit status 128+N, and when the main process ends the
  whole container ends.
* **Memory.** `mem_limit` = `memswap_limit` = the size's hard limit (2x quota). The engine's
  stats stream feeds `memory()` (R14); when the kernel OOM-kills inside the container the
  engine reports an `oom` event / `State.OOMKilled`, the runtime kills the whole dyno and
  `proc.oom_killed` tells the supervisor to log R15.
* **Events, not polling.** One events stream (filtered on this daemon's label) resolves every
  `wait()`; output arrives on an attach stream per container, read on the event loop.
* **Ownership.** Every container carries `io.paas.home=<PAAS_HOME>` plus app, dyno, type,
  release and a fingerprint of its spec. Nothing without this daemon's home label is touched.
* **Adoption.** A daemon that died (crash, SIGKILL) leaves its containers running. The next
  daemon's `prepare()` lists them; `spawn()` of the same app/dyno/spec re-attaches to the
  running container instead of creating a new one (no duplicate, no restart), a different
  spec replaces it. The manager starts every dyno of an app in one reconcile, so once one
  dyno of an app was spawned, that app's unclaimed containers (scaled down meanwhile) are
  removed `APP_SWEEP_DELAY` seconds later; those of apps nobody asked for after `ADOPTION_GRACE`.

The docker SDK does the control calls (create, start, remove, inspect, list) on a small thread
pool; the three streams (events, stats, attach) are read asynchronously straight from the
engine's socket, so no thread blocks per dyno.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import secrets
import signal as signals
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlparse

import httpx

from common.config import LOOPBACK, Settings
from dynos.runtimes.base import DynoSpec, OutputCallback, SpawnError
from dynos.runtimes.process import free_port, shell_script
from dynos.stack import choose_stack_image

log = logging.getLogger(__name__)

T = TypeVar("T")

LABEL = "io.paas"
HOME_LABEL = f"{LABEL}.home"
APP_LABEL = f"{LABEL}.app"
DYNO_LABEL = f"{LABEL}.dyno"
TYPE_LABEL = f"{LABEL}.type"
RELEASE_LABEL = f"{LABEL}.release"
SPEC_LABEL = f"{LABEL}.spec"
PORT_LABEL = f"{LABEL}.port"

APP_DIR = "/app"
SLUG_MOUNT = "/slug"
PING_TIMEOUT = 3.0
CONTROL_TIMEOUT = 60  # seconds for one SDK call (create, start, remove...)
CONTROL_THREADS = 8
OUTPUT_DRAIN_TIMEOUT = 2.0  # after `die`, wait this long for the attach stream to end
PROBE_TIMEOUT = 1.0
DIRECT_SIGNAL_WAIT = 2.0  # a signal right after start waits this long for the dyno's group
ADOPTION_GRACE = 60.0  # unclaimed containers of a previous daemon are removed after this
APP_SWEEP_DELAY = 5.0  # ... and an app's own unclaimed ones this long after its first spawn
EVENTS_RETRY = 1.0  # reconnect delay when the events stream breaks (engine restart)
MAX_STREAMS = 1000  # bound on concurrent stats/events connections to the engine


def boot_script(spec: DynoSpec) -> str:
    """PID 1's child: copy the slug into the container's writable layer, then exec the dyno's
    script (argument 1) so the app process is the one tini signals.

    Log dynos get stderr merged into stdout right here, in one pipe, as the process runtime
    does: two engine streams would not keep the order of lines written close together. A pty
    gets its window size before the app starts (the engine's resize would come too late).
    """
    steps = [f'cp -a {SLUG_MOUNT}/. "$HOME"/ || {{ echo "paas: could not copy the slug" >&2; exit 1; }}']
    if spec.stdio == "pty":
        steps.append(f"stty rows {int(spec.tty_rows)} cols {int(spec.tty_cols)} 2>/dev/null")
    merge = " 2>&1" if spec.stdio == "log" else ""
    steps.append(f'cd "$HOME" && exec bash -c "$1"{merge}')
    return "; ".join(steps)


class EngineError(RuntimeError):
    """The engine answered with an error (message from the engine)."""


# ---- the engine's address ------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """Where the Docker engine listens: a unix socket, or TCP on loopback."""

    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Engine:
        env = dict(os.environ) if env is None else env
        raw = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if env.get("DOCKER_TLS_VERIFY"):
            raise EngineError(
                "TLS-protected engines (DOCKER_TLS_VERIFY) are not supported; use a local engine"
            )
        url = urlparse(raw)
        if url.scheme == "unix":
            return cls(unix_path=url.path or "/var/run/docker.sock")
        if url.scheme in ("tcp", "http"):
            if url.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise EngineError(
                    f"DOCKER_HOST={raw}: the engine must run on this machine (slugs are bind-mounted)"
                )
            return cls(host=url.hostname, port=url.port or 2375)
        raise EngineError(f"DOCKER_HOST={raw}: only unix:// and tcp://127.0.0.1 engines are supported")

    @property
    def base_url(self) -> str:
        return "http://docker" if self.unix_path else f"http://{self.host}:{self.port}"

    def async_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=MAX_STREAMS, max_keepalive_connections=8)
        transport = (
            httpx.AsyncHTTPTransport(uds=self.unix_path, limits=limits)
            if self.unix_path
            else (httpx.AsyncHTTPTransport(limits=limits))
        )
        return httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=httpx.Timeout(30, read=None)
        )

    async def open_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.unix_path:
            return await asyncio.open_unix_connection(self.unix_path)
        assert self.host is not None and self.port is not None
        return await asyncio.open_connection(self.host, self.port)


def _sdk_client(engine: Engine, timeout: int = CONTROL_TIMEOUT) -> Any:
    import docker

    url = f"unix://{engine.unix_path}" if engine.unix_path else f"tcp://{engine.host}:{engine.port}"
    return docker.DockerClient(base_url=url, version="auto", timeout=timeout, max_pool_size=CONTROL_THREADS)


def _engine_error(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0][:300]


# ---- attach streams --------------------------------------------------------------------------


class _AttachProtocol(asyncio.Protocol):
    """One container's attach connection, read on the loop.

    It sends `POST /containers/{id}/attach` with `Upgrade: tcp`, waits for the engine's
    101 answer, then treats the rest of the connection as the dyno's streams. Without a TTY
    the engine frames output as [stream, 0, 0, 0, size (4 bytes, big-endian)] + data; with a
    TTY it is raw bytes. `merge` sends stdout and stderr both to "stdout" (log dynos).
    """

    def __init__(self, request: bytes, output: OutputCallback, *, multiplexed: bool, merge: bool):
        self.request = request
        self.output = output
        self.multiplexed = multiplexed
        self.merge = merge
        self.buffer = bytearray()
        self.head: bytearray | None = bytearray()  # None once the HTTP answer was read
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.paused = False
        self.writable = asyncio.Event()  # cleared while the transport's write buffer is full
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self._fail("attach answer has no end of headers")
                return
            status = bytes(self.head[: self.head.find(b"\r\n")]).decode(errors="replace")
            rest = bytes(self.head[end + 4 :])
            self.head = None
            if " 101 " not in status and " 200 " not in status:
                self._fail(status)
                return
            if not self.ready.done():
                self.ready.set_result(None)
            data = rest
            if not data:
                return
        if not self.multiplexed:
            self.output("stdout", data)
            return
        self.buffer += data
        while len(self.buffer) >= 8:
            kind, size = self.buffer[0], struct.unpack(">I", self.buffer[4:8])[0]
            if len(self.buffer) < 8 + size:
                break
            payload = bytes(self.buffer[8 : 8 + size])
            del self.buffer[: 8 + size]
            if payload:
                self.output("stderr" if kind == 2 and not self.merge else "stdout", payload)

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(EngineError(f"attach failed: {why}"))
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool:
        self._end()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(EngineError(f"attach failed: connection lost ({exc!r})"))
        self._end()

    def _end(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.writable.set()  # nobody waits to write into a closed stream
        if self.head is not None:  # never attached: nothing was streamed
            return
        self.output("stdout", b"")
        if self.multiplexed and not self.merge:
            self.output("stderr", b"")

    def pause(self) -> None:
        if self.transport is not None and not self.paused and not self.closed.is_set():
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self.paused and not self.closed.is_set():
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._end()


async def _attach(
    engine: Engine,
    api_version: str,
    container_id: str,
    output: OutputCallback,
    *,
    stdin: bool,
    tty: bool,
    merge: bool,
) -> _AttachProtocol:
    """Attach to a container's streams (before `start`, so no output is missed)."""
    query = urlencode({"stream": 1, "stdout": 1, "stderr": 1, "stdin": int(stdin), "logs": 0})
    request = (
        f"POST /v{api_version}/containers/{container_id}/attach?{query} HTTP/1.1\r\n"
        "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    protocol = _AttachProtocol(request, output, multiplexed=not tty, merge=merge)
    loop = asyncio.get_running_loop()
    if engine.unix_path:
        await loop.create_unix_connection(lambda: protocol, engine.unix_path)
    else:
        assert engine.host is not None and engine.port is not None
        await loop.create_connection(lambda: protocol, engine.host, engine.port)
    try:
        await asyncio.wait_for(asyncio.shield(protocol.ready), CONTROL_TIMEOUT)
    except BaseException:
        protocol.close()
        raise
    return protocol


# ---- one container dyno ----------------------------------------------------------------------


class DockerDyno:
    """One dyno run as a container. Implements `dynos.runtimes.base.DynoProcess`."""

    host = LOOPBACK

    def __init__(
        self, runtime: DockerRuntime, spec: DynoSpec, container_id: str, port: int | None, adopted: bool
    ):
        self.runtime = runtime
        self.spec = spec
        self.id = container_id
        self.container: str | None = container_id[:12]
        self.pid: int | None = None
        self.port = port
        self.adopted = adopted  # re-attached after a daemon restart rather than created
        self.oom_killed = False  # the kernel killed for memory: R15 (read by the supervisor)
        self.exit_code: int | None = None
        self.memory_bytes = 0
        self.memory_samples = 0
        self.peak_bytes = 0
        self.attach: _AttachProtocol | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._signals: asyncio.Task[None] | None = None
        self._direct: tuple[int, int] | None = None  # (host pid of PID 1, its start time)
        self._stats: asyncio.Task[None] | None = None
        self._finishing = False
        self._cleaned = False

    # ---- exit ----------------------------------------------------------------------------
    def on_die(self, exit_code: int, oom_killed: bool = False) -> None:
        """Called once the engine reports the container's end (events stream or inspect)."""
        if self._finishing:
            return
        self._finishing = True
        self.exit_code = exit_code
        self.oom_killed = self.oom_killed or oom_killed
        self._loop.create_task(self._finish(exit_code))

    def on_oom(self) -> None:
        """The kernel OOM-killed something in the dyno: the hard limit was hit, so the dyno ends."""
        if self._finishing:
            return
        self.oom_killed = True
        self.signal(signals.SIGKILL)

    async def _finish(self, status: int) -> None:
        if self.attach is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.attach.closed.wait(), OUTPUT_DRAIN_TIMEOUT)
            self.attach.close()
        if self._stats is not None:
            self._stats.cancel()
        if status == 137 and not self.oom_killed:  # a kill: was it the kernel, for memory?
            state = await self.runtime.inspect_state(self.id)
            self.oom_killed = bool(state and state.get("OOMKilled"))
        if not self._exited.done():
            self._exited.set_result(status)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    @property
    def exited(self) -> bool:
        return self._exited.done()

    # ---- control -------------------------------------------------------------------------
    def set_pid(self, pid: int | None) -> None:
        """Record the container's PID 1 as this host sees it, and whether we may signal it
        directly: only when /proc/<pid>/cgroup names this container (same pid namespace as
        the engine) and we are allowed to (root, or the engine's user)."""
        self.pid = pid
        self._direct = None
        if pid is None:
            return
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                owned = self.id in f.read()
            start = _start_time(pid)
        except OSError:
            return
        if owned and start is not None and os.access(f"/proc/{pid}/stat", os.R_OK):
            self._direct = (pid, start)

    def signal(self, sig: int) -> None:
        """Deliver `sig` to the container's PID 1 (tini forwards it to the dyno's group).

        Directly with kill(2) when we can (what `docker kill` ends up doing, minus the trip
        through dockerd, containerd and runc: tens of milliseconds under load, enough to change
        what a shutdown race looks like), else through the engine's API.
        """
        if self._finishing or self._cleaned:
            return
        previous = None if sig == signals.SIGKILL else self._signals  # SIGKILL never waits

        async def send() -> None:
            if previous is not None:  # keep the order of signals, whatever the scheduling
                with contextlib.suppress(Exception):
                    await previous
            if self._direct is not None:
                await self._signal_directly(sig)
            else:
                await self.runtime.kill(self.id, sig)

        self._signals = self._loop.create_task(send())

    async def _signal_directly(self, sig: int) -> None:
        """kill(2) what tini would: SIGKILL to PID 1 (the pid namespace goes with it), any other
        signal to the group of PID 1's child. Right after start that child may not have its own
        group yet (tini would then lose the signal: "Child was dead when forwarding signal"), so
        wait for it, as a process dyno's group exists from its first instant."""
        direct = self._direct
        assert direct is not None
        init, started = direct
        deadline = self._loop.time() + DIRECT_SIGNAL_WAIT
        try:
            while not self._finishing and _start_time(init) == started:  # not a recycled pid
                if sig == signals.SIGKILL:
                    os.kill(init, sig)
                    return
                group = _child_group(init)
                if group is not None:
                    os.killpg(group, sig)
                    return
                if self._loop.time() > deadline:
                    os.kill(init, sig)  # let tini forward it as best it can
                    return
                await asyncio.sleep(0.005)
        except PermissionError:
            self._direct = None  # not ours to signal after all: through the engine
            await self.runtime.kill(self.id, sig)
        except ProcessLookupError:
            pass  # it ended meanwhile

    async def probe(self) -> bool:
        if self.port is None or self._finishing:
            return False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, self.port), PROBE_TIMEOUT)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    @property
    def peak_memory(self) -> int:
        """Highest memory seen; after an OOM kill at least the hard limit (where the kernel acts)."""
        if self.oom_killed:
            return max(self.peak_bytes, self.spec.size.hard_limit_bytes)
        return self.peak_bytes

    async def memory(self) -> int:
        """The latest figure of the engine's stats stream (RSS + swap, page cache excluded)."""
        if self._finishing:
            return 0
        return self.memory_bytes

    def start_stats(self) -> None:
        self._stats = self._loop.create_task(self.runtime.stats_stream(self))

    # ---- attached one-offs ---------------------------------------------------------------
    async def write_stdin(self, data: bytes) -> None:
        attach = self.attach
        if attach is None or attach.transport is None or attach.transport.is_closing():
            return
        attach.transport.write(data)
        await attach.writable.wait()  # the dyno reads slowly: the caller waits (bounded buffer)

    def close_stdin(self) -> None:
        attach = self.attach
        if attach is None or attach.transport is None or attach.transport.is_closing():
            return
        if self.spec.stdio == "pty":
            attach.transport.write(b"\x04")  # a terminal has no EOF; ^D says so
        elif attach.transport.can_write_eof():
            attach.transport.write_eof()  # half-close: the engine closes the dyno's stdin

    def resize(self, rows: int, cols: int) -> None:
        if self.spec.stdio == "pty" and not self._finishing:
            self._loop.create_task(self.runtime.resize(self.id, rows, cols))

    def pause_output(self) -> None:
        if self.attach is not None:
            self.attach.pause()

    def resume_output(self) -> None:
        if self.attach is not None:
            self.attach.resume()

    async def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if not self._exited.done():  # cleanup without wait(): end it first
            await self.runtime.kill(self.id, signals.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exited), 10)
        if self.attach is not None:
            self.attach.close()
        if self._stats is not None:
            self._stats.cancel()
        await self.runtime.forget(self)


# ---- the runtime -----------------------------------------------------------------------------


@dataclass
class _Leftover:
    """A running container of a previous daemon, waiting to be adopted."""

    id: str
    app: str
    dyno: str
    fingerprint: str
    port: int | None
    pid: int | None


class DockerRuntime:
    """Runs dynos as containers. Implements `dynos.runtimes.base.Runtime`."""

    name = "docker"

    def __init__(self, settings: Settings, *, engine: Engine | None = None):
        self.settings = settings
        self.home_label = str(settings.home.expanduser().resolve())
        self.home_tag = hashlib.sha256(self.home_label.encode()).hexdigest()[:8]
        self.engine = engine or Engine.from_env()
        self.image: str | None = None
        self.image_reason = ""
        self.api_version = "1.41"
        self.server_version = ""
        # what the selection check found (engine version, stack image), for `paas status`
        self.reason = _last_check.get((self.engine, settings.stack_image), "")
        self.adopted = 0  # containers re-attached after a daemon restart
        self.removed_leftovers = 0  # containers of a previous daemon nobody claimed
        self._client: Any = None
        self._http: httpx.AsyncClient | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(CONTROL_THREADS, thread_name_prefix="paas-docker")
        self._live: dict[str, DockerDyno] = {}
        self._ports: set[int] = set()
        self._leftovers: dict[tuple[str, str], _Leftover] = {}
        self._events_task: asyncio.Task[None] | None = None
        self._events_ready = asyncio.Event()
        self._sweep_task: asyncio.Task[None] | None = None
        self._closing = False
        self._removals: set[asyncio.Task[Any]] = set()  # background `docker rm` of ended dynos
        self._sweeps: set[asyncio.Task[Any]] = set()
        self._app_sweeps: set[str] = set()

    # ---- plumbing ------------------------------------------------------------------------
    async def _sdk(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "prepare() first"
        return self._http

    def _path(self, path: str) -> str:
        return f"/v{self.api_version}{path}"

    # ---- lifecycle -----------------------------------------------------------------------
    async def prepare(self) -> None:
        """Connect, pick the stack image, start the events stream, find a previous daemon's dynos."""
        self._client = await self._sdk(_sdk_client, self.engine)
        version = await self._sdk(self._client.version)
        self.api_version = self._client.api.api_version
        self.server_version = str(version.get("Version", ""))
        self.image, self.image_reason = await self._sdk(
            choose_stack_image, self._client, self.settings.stack_image, pull=False
        )
        self.reason = f"Docker {self.server_version}, {self.image_reason}"
        self._http = self.engine.async_client()
        self._events_task = asyncio.get_running_loop().create_task(self._events_loop())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._events_ready.wait(), CONTROL_TIMEOUT)
        await self._find_leftovers()
        if self._leftovers:
            self._sweep_task = asyncio.get_running_loop().create_task(self._sweep_after(ADOPTION_GRACE))

    async def close(self) -> None:
        self._closing = True
        for dyno in list(self._live.values()):
            dyno.signal(signals.SIGKILL)
            await dyno.cleanup()
        await self.sweep_leftovers()
        for sweep in list(self._sweeps):
            sweep.cancel()  # delayed sweeps: everything of ours goes now anyway
        if self._removals:
            await asyncio.gather(*list(self._removals), return_exceptions=True)
        if self._client is not None:  # whatever is left of ours (a spawn cut short): no orphans
            with contextlib.suppress(Exception):
                for item in await self.list_own():
                    await self._remove(item["Id"])
        for task in (self._events_task, self._sweep_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._http is not None:
            await self._http.aclose()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._sdk(self._client.close)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- ownership -----------------------------------------------------------------------
    def _own_filter(self, **more: str) -> dict[str, list[str]]:
        labels = [f"{HOME_LABEL}={self.home_label}"] + [f"{k}={v}" for k, v in more.items()]
        return {"label": labels}

    async def list_own(self, all_states: bool = True) -> list[dict[str, Any]]:
        """This daemon's containers (raw engine JSON), running or not."""
        result: list[dict[str, Any]] = await self._sdk(
            self._client.api.containers, all=all_states, filters=self._own_filter()
        )
        return result

    async def _find_leftovers(self) -> None:
        for item in await self.list_own():
            labels = item.get("Labels") or {}
            if item.get("State") != "running":
                await self._remove(item["Id"])
                continue
            port_text = labels.get(PORT_LABEL) or ""
            leftover = _Leftover(
                id=item["Id"],
                app=labels.get(APP_LABEL, ""),
                dyno=labels.get(DYNO_LABEL, ""),
                fingerprint=labels.get(SPEC_LABEL, ""),
                port=int(port_text) if port_text.isdigit() else None,
                pid=None,
            )
            key = (leftover.app, leftover.dyno)
            if key in self._leftovers or leftover.dyno.startswith(("run.", "release.")):
                # one-offs died with their client; duplicates should never exist: remove them
                await self._remove(leftover.id)
                continue
            self._leftovers[key] = leftover
            if leftover.port is not None:
                self._ports.add(leftover.port)

    async def _sweep_after(self, delay: float, app: str | None = None) -> None:
        await asyncio.sleep(delay)
        await self.sweep_leftovers(app)

    def _track(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    async def sweep_leftovers(self, app: str | None = None) -> int:
        """Remove a previous daemon's containers that no dyno claimed (all, or one app's)."""
        keys = [k for k in self._leftovers if app is None or k[0] == app]
        for key in keys:
            leftover = self._leftovers.pop(key)
            if leftover.port is not None:
                self._ports.discard(leftover.port)
            await self._remove(leftover.id)
            self.removed_leftovers += 1
        return len(keys)

    async def _remove(self, container_id: str) -> None:
        import docker.errors

        try:
            await self._sdk(self._client.api.remove_container, container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except RuntimeError:  # the runtime is closed: the next daemon's prepare() removes it
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                log.warning("could not remove container %s: %s", container_id[:12], _engine_error(exc))
        except (docker.errors.DockerException, OSError) as exc:  # engine gone: prepare() reaps it later
            log.warning("could not remove container %s: %s", container_id[:12], _connect_error(exc))

    # ---- spawning ------------------------------------------------------------------------
    @staticmethod
    def fingerprint(spec: DynoSpec, image: str) -> str:
        """What makes two dynos interchangeable: command, env, size, image, slug, release."""
        material = json.dumps(
            [
                spec.app,
                spec.name,
                spec.command,
                sorted(spec.env.items()),
                spec.size.name,
                image,
                str(spec.slug_dir or ""),
                spec.release,
                spec.wants_port,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def _image_for(self, spec: DynoSpec) -> str:
        if spec.docker_image:
            return spec.docker_image
        if spec.slug_dir is None:
            raise SpawnError(f"release v{spec.release} has no slug")
        if not spec.slug_dir.is_dir():
            raise SpawnError(f"the slug for release v{spec.release} is missing ({spec.slug_dir})")
        if self.image is None:
            raise SpawnError(self.image_reason)
        return self.image

    async def spawn(self, spec: DynoSpec, output: OutputCallback) -> DockerDyno:
        if self._client is None:
            raise SpawnError("the Docker runtime is not prepared")
        image = self._image_for(spec)
        fingerprint = self.fingerprint(spec, image)
        leftover = self._leftovers.pop((spec.app, spec.name), None)
        if any(app == spec.app for app, _ in self._leftovers) and spec.app not in self._app_sweeps:
            self._app_sweeps.add(spec.app)
            sweep = asyncio.get_running_loop().create_task(self._sweep_after(APP_SWEEP_DELAY, spec.app))
            self._sweeps.add(sweep)
            sweep.add_done_callback(self._sweeps.discard)
        if leftover is not None:
            if leftover.fingerprint == fingerprint and spec.stdio == "log":
                dyno = await self._adopt(spec, leftover, output)
                if dyno is not None:
                    return dyno
            if leftover.port is not None:
                self._ports.discard(leftover.port)
            await self._remove(leftover.id)  # replaced by a new container: never two of one dyno
        return await self._create(spec, image, fingerprint, output)

    async def _adopt(self, spec: DynoSpec, leftover: _Leftover, output: OutputCallback) -> DockerDyno | None:
        dyno = DockerDyno(self, spec, leftover.id, leftover.port, adopted=True)
        self._live[leftover.id] = dyno
        try:
            dyno.attach = await _attach(
                self.engine, self.api_version, leftover.id, output, stdin=False, tty=False, merge=True
            )
        except (OSError, EngineError):
            self._live.pop(leftover.id, None)
            return None
        state = await self.inspect_state(leftover.id)
        if not state or not state.get("Running"):  # it died between prepare() and now
            dyno.attach.close()
            dyno.on_die(
                int(state.get("ExitCode", 255)) if state else 255, bool(state and state.get("OOMKilled"))
            )
        else:
            dyno.set_pid(int(state.get("Pid") or 0) or None)
            dyno.start_stats()
        self.adopted += 1
        return dyno

    def _env(self, spec: DynoSpec, port: int | None, image_is_stack: bool) -> dict[str, str]:
        env = {"PYTHONUNBUFFERED": "1"}
        if spec.stdio == "pty":
            env["TERM"] = spec.env.get("TERM") or "xterm-256color"
        env.update({k: str(v) for k, v in spec.env.items()})
        if image_is_stack:
            env["HOME"] = APP_DIR
        env["DYNO"] = spec.name
        if port is not None:
            env["PORT"] = str(port)
        env["TINI_KILL_PROCESS_GROUP"] = "1"  # signals reach the dyno's whole process group
        env["TINI_VERBOSITY"] = "0"  # no "[WARN tini (1)]" lines in the dyno's own output
        return env

    async def _create(
        self, spec: DynoSpec, image: str, fingerprint: str, output: OutputCallback
    ) -> DockerDyno:
        import docker.errors

        port = free_port(self._ports) if spec.wants_port else None
        if port is not None:
            self._ports.add(port)
        from_slug = spec.docker_image is None
        interactive = spec.stdio != "log"
        tty = spec.stdio == "pty"
        if from_slug:
            assert spec.slug_dir is not None
            script = shell_script(spec.command, spec.slug_dir)
            command: list[str] | None = ["bash", "-c", boot_script(spec), "paas-boot", script]
            binds = {str(spec.slug_dir.resolve()): {"bind": SLUG_MOUNT, "mode": "ro"}}
        else:
            command = ["/bin/sh", "-c", spec.command] if spec.command.strip() else None
            binds = {}
        labels = {
            HOME_LABEL: self.home_label,
            APP_LABEL: spec.app,
            DYNO_LABEL: spec.name,
            TYPE_LABEL: spec.type,
            RELEASE_LABEL: str(spec.release),
            SPEC_LABEL: fingerprint,
            PORT_LABEL: str(port or ""),
        }
        name = f"paas.{self.home_tag}.{spec.app}.{spec.name}.{secrets.token_hex(3)}"
        api = self._client.api
        host_config = api.create_host_config(
            network_mode="host",
            init=True,
            binds=binds,
            mem_limit=spec.size.hard_limit_bytes,
            memswap_limit=spec.size.hard_limit_bytes,
            log_config={"Type": "local", "Config": {"max-size": "1m", "max-file": "2", "compress": "false"}},
        )
        container_id: str | None = None
        try:
            created = await self._sdk(
                api.create_container,
                image,
                command,
                environment=self._env(spec, port, from_slug),
                labels=labels,
                name=name,
                working_dir=APP_DIR if from_slug else None,
                host_config=host_config,
                stdin_open=interactive,  # with detach=False this also sets StdinOnce
                tty=tty,
            )
            container_id = str(created["Id"])
            dyno = DockerDyno(self, spec, container_id, port, adopted=False)
            self._live[container_id] = dyno  # before start: its `die` event must find it
            dyno.attach = await _attach(
                self.engine,
                self.api_version,
                container_id,
                output,
                stdin=interactive,
                tty=tty,
                merge=not interactive,
            )
            await self._sdk(api.start, container_id)
        except (docker.errors.DockerException, EngineError, OSError) as exc:
            if container_id is not None:
                self._live.pop(container_id, None)
                await self._remove(container_id)
            if port is not None:
                self._ports.discard(port)
            if isinstance(exc, docker.errors.ImageNotFound) and from_slug:
                raise SpawnError(
                    f"the stack image {image} is not on the engine any more; build it with `paas stack:build`"
                ) from exc
            if isinstance(exc, docker.errors.APIError):
                raise SpawnError(f"could not start the container: {_engine_error(exc)}") from exc
            raise SpawnError(
                f"could not start the container: the Docker engine does not answer ({_connect_error(exc)})"
            ) from exc
        if tty and not from_slug:  # slug dynos set their size in boot_script()
            await self.resize(container_id, spec.tty_rows, spec.tty_cols)
        state = await self.inspect_state(container_id)
        if state and state.get("Pid"):
            dyno.set_pid(int(state["Pid"]))  # the container's PID 1 as the host sees it
        dyno.start_stats()
        return dyno

    async def forget(self, dyno: DockerDyno) -> None:
        """The dyno is over: release its port now and remove its container in the background
        (it has exited already; `docker rm` takes tens of ms the restart should not wait for)."""
        self._live.pop(dyno.id, None)
        if dyno.port is not None:
            self._ports.discard(dyno.port)
        self._track(self._remove(dyno.id))

    # ---- engine calls (async, straight to the socket) ------------------------------------
    async def kill(self, container_id: str, sig: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                self._path(f"/containers/{container_id}/kill"), params={"signal": str(int(sig))}
            )

    async def resize(self, container_id: str, rows: int, cols: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                self._path(f"/containers/{container_id}/resize"), params={"h": rows, "w": cols}
            )

    async def inspect_state(self, container_id: str) -> dict[str, Any] | None:
        try:
            response = await self.http.get(self._path(f"/containers/{container_id}/json"))
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        state: dict[str, Any] = response.json().get("State") or {}
        return state

    async def stats_stream(self, dyno: DockerDyno) -> None:
        """Follow the engine's stats stream for one container (one JSON document a second)."""
        with contextlib.suppress(httpx.HTTPError, asyncio.CancelledError):
            async with self.http.stream(
                "GET", self._path(f"/containers/{dyno.id}/stats"), params={"stream": "1"}
            ) as r:
                if r.status_code != 200:
                    return
                async for line in r.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        stats = json.loads(line)
                        dyno.memory_bytes = _memory_from_stats(stats)
                        peak = int((stats.get("memory_stats") or {}).get("max_usage") or 0)
                    except (ValueError, TypeError, AttributeError):
                        continue
                    dyno.peak_bytes = max(dyno.peak_bytes, peak, dyno.memory_bytes)
                    dyno.memory_samples += 1

    async def _events_loop(self) -> None:
        """The engine's events for this daemon's containers: die, oom. Reconnects after an outage."""
        since: float | None = None
        filters = json.dumps({"type": ["container"], "event": ["die", "oom"], **self._own_filter()})
        while not self._closing:
            params = {"filters": filters}
            if since is not None:
                params["since"] = f"{since:.9f}"
            try:
                async with self.http.stream("GET", self._path("/events"), params=params) as response:
                    if response.status_code != 200:
                        raise EngineError(f"events: HTTP {response.status_code}")
                    self._events_ready.set()
                    if since is not None:  # we were away: whatever died meanwhile
                        await self._recheck_live()
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        since = int(event.get("timeNano") or time.time_ns()) / 1e9
                        self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # engine restarted or the socket broke: reconnect
                if self._events_ready.is_set() or since is None:  # say it once per outage
                    log.warning("docker events stream ended, reconnecting: %s", _engine_error(exc))
                self._events_ready.clear()
            if since is None:
                since = time.time()
            await asyncio.sleep(EVENTS_RETRY)

    def _dispatch(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        dyno = self._live.get(str(actor.get("ID") or event.get("id") or ""))
        if dyno is None:
            return
        action = event.get("Action") or event.get("status")
        if action == "oom":
            dyno.on_oom()
        elif action == "die":
            code = (actor.get("Attributes") or {}).get("exitCode", "255")
            dyno.on_die(int(code) if str(code).lstrip("-").isdigit() else 255)

    async def _recheck_live(self) -> None:
        for dyno in list(self._live.values()):
            state = await self.inspect_state(dyno.id)
            if state is None or not state.get("Running"):
                dyno.on_die(int((state or {}).get("ExitCode", 255)), bool(state and state.get("OOMKilled")))

    @property
    def live_count(self) -> int:
        return len(self._live)


def _child_group(init: int) -> int | None:
    """The process group led by PID 1's (first) child, once that child has made it."""
    try:
        with open(f"/proc/{init}/task/{init}/children") as f:
            children = f.read().split()
        if not children:
            return None
        child = int(children[0])
        with open(f"/proc/{child}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
    except (OSError, ValueError):
        return None
    return child if len(fields) > 2 and int(fields[2]) == child else None


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: tells a process from a later one with the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def _memory_from_stats(stats: dict[str, Any]) -> int:
    """usage minus inactive page cache, as `docker stats` shows it (cgroup v1 and v2)."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return max(0, usage - int(inactive or 0))


# ---- selection -------------------------------------------------------------------------------


_last_check: dict[tuple[Engine, str], str] = {}  # (engine, stack image) -> what the check found


async def docker_unavailable_reason(settings: Settings) -> str | None:
    """None when a Docker engine answers and a stack image is usable (pulling it if need be), else why not."""
    try:
        engine = Engine.from_env()
    except EngineError as exc:
        return str(exc)

    def check() -> str | None:
        pinger = _sdk_client(engine, timeout=int(PING_TIMEOUT))
        try:
            pinger.ping()  # fail fast when nothing listens
        finally:
            pinger.close()
        client = _sdk_client(engine)  # a pull streams progress: per-read timeout, not total
        try:
            version = str(client.version().get("Version", "?"))
            image, reason = choose_stack_image(client, settings.stack_image, pull=True)
            if image is None:
                return reason
            _last_check[(engine, settings.stack_image)] = f"Docker {version}, {reason}"
            return None
        finally:
            client.close()

    try:
        return await asyncio.to_thread(check)
    except Exception as exc:  # the SDK raises many kinds; all mean "not usable"
        where = engine.unix_path or f"{engine.host}:{engine.port}"
        return f"no Docker engine answers at {where} ({_connect_error(exc)}); start dockerd or use PAAS_RUNTIME=process"


def _connect_error(exc: BaseException) -> str:
    """The root cause of a failed ping, in a few words."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                current = arg
                break
            if isinstance(arg, tuple):
                inner = next((a for a in arg if isinstance(a, BaseException)), None)
                if inner is not None:
                    current = inner
                    break
        else:
            current = current.__cause__ or current.__context__
            continue
        if isinstance(current, FileNotFoundError):
            return "no such socket"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, PermissionError):
            return "permission denied on the socket"
    return _engine_error(exc)
