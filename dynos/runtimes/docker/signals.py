"""Signals for a container dyno: straight to its processes with kill(2) when this daemon may,
else through the engine (`POST /containers/{id}/kill`).

kill(2) does what `docker kill` ends up doing, minus the trip through dockerd, containerd and
runc: tens of milliseconds under load, enough to change what a shutdown race looks like. It is
used only when the container's PID 1 is visible here (same pid namespace as the engine: its
/proc/<pid>/cgroup names the container) and ours to signal (root, or the engine's user).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal as signals
from collections.abc import Awaitable, Callable

DIRECT_SIGNAL_WAIT = 2.0  # a signal right after start waits this long for the dyno's group


def child_group(init: int) -> int | None:
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


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: tells a process from a later one with the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def visible_init(container_id: str, pid: int | None) -> tuple[int, int] | None:
    """(pid, start time) of the container's PID 1 when this daemon sees and may signal it."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            owned = container_id in f.read()
        started = start_time(pid)
    except OSError:
        return None
    if owned and started is not None and os.access(f"/proc/{pid}/stat", os.R_OK):
        return (pid, started)
    return None


class SignalSender:
    """Delivers signals to one container dyno, in the order they were asked for."""

    def __init__(self, container_id: str, through_engine: Callable[[str, int], Awaitable[None]]):
        self.container_id = container_id
        self.through_engine = through_engine
        self.init: tuple[int, int] | None = None  # (host pid of PID 1, its start time)
        self.over = False  # the dyno ended: nothing to signal any more
        self._last: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def set_pid(self, pid: int | None) -> None:
        self.init = visible_init(self.container_id, pid)

    def send(self, sig: int) -> None:
        """Deliver `sig` to the container's PID 1 (tini forwards it to the dyno's group)."""
        previous = None if sig == signals.SIGKILL else self._last  # SIGKILL never waits

        async def send() -> None:
            if previous is not None:  # keep the order of signals, whatever the scheduling
                with contextlib.suppress(Exception):
                    await previous
            if self.init is not None:
                await self._directly(sig)
            else:
                await self.through_engine(self.container_id, sig)

        self._last = self._loop.create_task(send())

    async def _directly(self, sig: int) -> None:
        """kill(2) what tini would: SIGKILL to PID 1 (the pid namespace goes with it), any other
        signal to the group of PID 1's child. Right after start that child may not have its own
        group yet (tini would then lose the signal: "Child was dead when forwarding signal"), so
        wait for it, as a process dyno's group exists from its first instant."""
        assert self.init is not None
        init, started = self.init
        deadline = self._loop.time() + DIRECT_SIGNAL_WAIT
        try:
            while not self.over and start_time(init) == started:  # not a recycled pid
                target = self._target(init, sig, deadline)
                if target is not None:
                    kill, pid = target
                    kill(pid, sig)
                    return
                await asyncio.sleep(0.005)
        except PermissionError:
            self.init = None  # not ours to signal after all: through the engine
            await self.through_engine(self.container_id, sig)
        except ProcessLookupError:
            pass  # it ended meanwhile

    def _target(self, init: int, sig: int, deadline: float) -> tuple[Callable[[int, int], None], int] | None:
        if sig == signals.SIGKILL:
            return os.kill, init
        group = child_group(init)
        if group is not None:
            return os.killpg, group
        if self._loop.time() > deadline:
            return os.kill, init  # let tini forward it as best it can
        return None
