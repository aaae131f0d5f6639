"""A redis-server process: started by this daemon or adopted from an earlier one, watched, stopped.

Servers run in their own session, so they outlive a daemon that is SIGKILLed (like the embedded
PostgreSQL): the next daemon finds each one by its pid file and recognises it by its process
title, which names its configuration file, and adopts it instead of starting a second one.
Exits are observed through a pidfd on the event loop (children and adopted servers alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import psutil

from common.config import LOOPBACK
from common.errors import PaasError
from paas.addons.kvs.instance import InstanceFiles

STOP_GRACE = 10.0  # SIGTERM (redis flushes its append-only file), then SIGKILL


class RedisUnavailable(PaasError):
    def __init__(self, message: str):
        super().__init__(503, "redis_unavailable", message)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisUnavailable(
            "redis-server is not installed; the Key-Value Store add-on runs Debian's redis-server "
            "(apt-get install redis-server)."
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as redis-server binds (SO_REUSEADDR): connections of an earlier run in TIME_WAIT
        # must not make the server move and change the app's REDIS_URL
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def running_pid(files: InstanceFiles) -> int | None:
    """The pid of this add-on's live server, if its pid file names one."""
    pid = files.read_pid()
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        title = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    return pid if str(files.conf_path) in title and "redis-server" in title else None


def loopback_only(pid: int) -> bool:
    """Every socket the server listens on is bound to 127.0.0.1."""
    listening = [c for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
    return bool(listening) and all(c.laddr.ip == LOOPBACK for c in listening)


def established_connections(pid: int, ports: tuple[int, ...]) -> int:
    """Clients connected to the server right now, counted by the kernel (no connection needed)."""
    try:
        conns = psutil.Process(pid).net_connections("inet")
    except psutil.Error:
        return 0
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port in ports)


class ServerProcess:
    """One running server; `on_exit` is called once, on the loop, when it is gone."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None, on_exit: Callable[[], None]):
        self.pid = pid
        self.popen = popen  # None when adopted (an earlier daemon started it)
        self.started = time.monotonic()
        self._on_exit = on_exit
        self._pidfd: int | None = None
        self._exited = asyncio.Event()
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:  # already gone
            self._exited.set()
            asyncio.get_running_loop().call_soon(on_exit)
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._gone)

    @property
    def adopted(self) -> bool:
        return self.popen is None

    @property
    def alive(self) -> bool:
        """Asked now, not when the loop gets to the exit: a server killed a moment ago is dead."""
        if self._pidfd is not None and select.select([self._pidfd], [], [], 0)[0]:
            self._gone()
        return not self._exited.is_set()

    def _gone(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self.popen is not None:
            self.popen.poll()  # reap our child
        if not self._exited.is_set():
            self._exited.set()
            self._on_exit()

    async def wait(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._exited.wait(), timeout)
        return self._exited.is_set()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (the server flushes its data and exits), SIGKILL after `grace`."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if not self.alive:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            if await self.wait(wait):
                return

    def detach(self) -> None:
        """Stop watching without stopping the server (it outlives this daemon)."""
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


def spawn(binary: str, files: InstanceFiles) -> subprocess.Popen[bytes]:
    """redis-server in its own session (a daemon's Ctrl-C or SIGKILL does not reach it), files
    it creates private to this user (umask 077)."""
    files.pid_path.unlink(missing_ok=True)
    # what it prints before it opens its log file (a configuration error) goes there too
    fd = os.open(files.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            [binary, str(files.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            cwd=files.dir,
            start_new_session=True,
            umask=0o077,
            close_fds=True,
        )
    finally:
        os.close(fd)
