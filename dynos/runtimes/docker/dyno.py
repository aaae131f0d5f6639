"""One dyno run as a container: what the supervisor holds (`dynos.runtimes.base.DynoProcess`).

Its end comes from the engine's events stream (`on_die`, `on_oom`, called by the runtime), its
memory from the container's stats stream, its output from the attach stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as signals
from collections.abc import Awaitable, Callable

from common.config import LOOPBACK
from dynos.runtimes.base import DynoSpec
from dynos.runtimes.docker.api import EngineApi
from dynos.runtimes.docker.attach import AttachProtocol
from dynos.runtimes.docker.signals import SignalSender, visible_init
from dynos.runtimes.sockets import Listener, namespace_listeners

OUTPUT_DRAIN_TIMEOUT = 2.0  # after `die`, wait this long for the attach stream to end
PROBE_TIMEOUT = 1.0
PROXY_PROBE_WINDOW = 0.1  # a published port with nothing behind it closes within this
NETWORK_RELEASE_TIMEOUT = 5.0  # after `die`, wait at most this long for the network's release
CLEANUP_KILL_WAIT = 10.0


class DockerDyno:
    """One dyno run as a container. Implements `dynos.runtimes.base.DynoProcess`."""

    host = LOOPBACK
    isolated = True  # a network namespace of its own: only its published $PORT reaches it

    def __init__(
        self,
        api: EngineApi,
        spec: DynoSpec,
        container_id: str,
        port: int | None,
        *,
        adopted: bool,
        forget: Callable[[DockerDyno], Awaitable[None]],
    ):
        self.api = api
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
        self.attach: AttachProtocol | None = None
        self.signals = SignalSender(container_id, api.kill)
        self._netns_pid: int | None = None  # PID 1, when its /proc (and namespace) is visible here
        self._forget = forget
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._stats: asyncio.Task[None] | None = None
        self._network_released = asyncio.Event()
        self._finishing = False
        self._cleaned = False

    # ---- exit ----------------------------------------------------------------------------
    def on_die(self, exit_code: int, oom_killed: bool = False) -> None:
        """Called once the engine reports the container's end (events stream or inspect)."""
        if self._finishing:
            return
        self._finishing = True
        self.signals.over = True
        self.exit_code = exit_code
        self.oom_killed = self.oom_killed or oom_killed
        self._loop.create_task(self._finish(exit_code))

    def on_network_released(self) -> None:
        """The engine took the container off its network: its published port is closed."""
        self._network_released.set()

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
            state = await self.api.inspect_state(self.id)
            self.oom_killed = bool(state and state.get("OOMKilled"))
        # over means over: nothing answers on its port any more once wait() returns
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._network_released.wait(), NETWORK_RELEASE_TIMEOUT)
        if not self._exited.done():
            self._exited.set_result(status)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    @property
    def exited(self) -> bool:
        return self._exited.done()

    # ---- control -------------------------------------------------------------------------
    def set_pid(self, pid: int | None) -> None:
        """Record the container's PID 1 as this host sees it (and whether we may signal it)."""
        self.pid = pid
        self.signals.set_pid(pid)
        self._netns_pid = pid if visible_init(self.id, pid) is not None else None

    def signal(self, sig: int) -> None:
        if self._finishing or self._cleaned:
            return
        self.signals.send(sig)

    async def probe(self) -> bool:
        """Does the dyno listen on $PORT where its published port reaches it?

        A connection to the published port proves nothing by itself: the engine's proxy
        accepts it whether or not the app listens. So the container's own socket table says
        (an app bound to its loopback only is not reachable, as on Heroku); when that table is
        not visible from here, a connection the proxy closes at once means nobody listens."""
        if self.port is None or self._finishing:
            return False
        listeners = await self.listeners()
        if self._netns_pid is not None and listeners is not None:
            return any(s.port == self.port and not s.loopback for s in listeners)
        return await _probe_through_proxy(self.port)

    async def listeners(self) -> list[Listener] | None:
        """Every listening TCP socket in the dyno's network namespace (None: not visible here)."""
        if self._netns_pid is None or self._finishing:
            return None
        return namespace_listeners(self._netns_pid)

    # ---- memory --------------------------------------------------------------------------
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

    def _sample(self, memory: int, peak: int) -> None:
        self.memory_bytes = memory
        self.peak_bytes = max(self.peak_bytes, peak, memory)
        self.memory_samples += 1

    def start_stats(self) -> None:
        self._stats = self._loop.create_task(self.api.follow_stats(self.id, self._sample))

    # ---- attached one-offs ---------------------------------------------------------------
    async def write_stdin(self, data: bytes) -> None:
        if self.attach is not None:
            await self.attach.write(data)

    def close_stdin(self) -> None:
        if self.attach is not None:
            self.attach.write_eof(tty=self.spec.stdio == "pty")

    def resize(self, rows: int, cols: int) -> None:
        if self.spec.stdio == "pty" and not self._finishing:
            self._loop.create_task(self.api.resize(self.id, rows, cols))

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
            await self.api.kill(self.id, signals.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exited), CLEANUP_KILL_WAIT)
        if self.attach is not None:
            self.attach.close()
        if self._stats is not None:
            self._stats.cancel()
        await self._forget(self)


async def _probe_through_proxy(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), PROBE_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    try:
        first = await asyncio.wait_for(reader.read(1), PROXY_PROBE_WINDOW)
    except TimeoutError:
        return True  # still open: something accepted it behind the proxy
    except OSError:
        return False  # reset: the proxy found nobody
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return first != b""
