"""The daemon's side of one router process: its Popen, its channel, what it acknowledged.

`spawn` starts `python -m router.fleet.worker` with one end of a socket pair and its listening
sockets (passed as file descriptors, so the process binds nothing itself). Queries (figures)
are answered on the same channel after the records the process had finished, so an answer
means "every record before it is delivered".
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from router.fleet.wire import Message, encode

# where `router` is imported from, so a daemon started from anywhere finds the same package
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class RouterProcess:
    def __init__(
        self,
        index: int,
        proc: subprocess.Popen[bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.index = index
        self.proc = proc
        self.reader = reader
        self.writer = writer
        self.started = time.monotonic()
        self.ready = False
        self.acked = 0  # the last change it applied
        self.figures: Message | None = None  # its last answer to a query
        self.task: asyncio.Task[None] | None = None
        self._ack_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._queries: dict[int, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, frame: bytes) -> None:
        if not self.writer.transport.is_closing():
            self.writer.write(frame)

    # ---- acknowledgements ------------------------------------------------------------------
    def acknowledged(self, seq: int) -> None:
        self.acked = max(self.acked, seq)
        waiting = []
        for want, fut in self._ack_waiters:
            if want <= self.acked:
                if not fut.done():
                    fut.set_result(None)
            else:
                waiting.append((want, fut))
        self._ack_waiters = waiting

    def applied(self, seq: int) -> asyncio.Future[None]:
        """Resolved once the process has applied change `seq`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.acked >= seq:
            fut.set_result(None)
        else:
            self._ack_waiters.append((seq, fut))
        return fut

    # ---- queries ---------------------------------------------------------------------------
    async def query(self, timeout: float) -> Message | None:
        """Its figures, after every record it finished before the question; None if it does not
        answer in time (its last figures stay)."""
        query = next(self._ids)
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._queries[query] = answer
        self.send(encode({"op": "query", "id": query}))
        try:
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return None
        finally:
            self._queries.pop(query, None)

    def answered(self, message: Message) -> None:
        self.figures = message
        fut = self._queries.get(int(message["id"]))
        if fut is not None and not fut.done():
            fut.set_result(message)

    def closed(self) -> None:
        """The channel is gone: nothing it was asked will be answered."""
        self.writer.close()
        for _seq, fut in self._ack_waiters:
            if not fut.done():
                fut.set_result(None)
        self._ack_waiters.clear()
        for answer in self._queries.values():
            if not answer.done():
                answer.cancel()

    async def exited(self, grace: float) -> int:
        """Its exit status (negative: the signal), SIGKILL after `grace` seconds."""
        deadline = time.monotonic() + grace
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                deadline = float("inf")
            await asyncio.sleep(0.02)
        return self.proc.returncode


async def spawn(index: int, listen: socket.socket, tls: socket.socket | None) -> RouterProcess:
    """Start router process `index` on these listening sockets (closed here: the process owns them)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fds = [theirs.fileno(), listen.fileno()]
    argv = [sys.executable, "-m", "router.fleet.worker", "--index", str(index)]
    argv += ["--channel", str(theirs.fileno()), "--listen", str(listen.fileno())]
    if tls is not None:
        fds.append(tls.fileno())
        argv += ["--tls", str(tls.fileno())]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL, env=env)
    except BaseException:
        ours.close()
        raise
    finally:
        for sock in (theirs, listen, tls):
            if sock is not None:
                sock.close()
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=2**20)
    return RouterProcess(index, proc, reader, writer)


def describe_exit(code: int) -> str:
    if code < 0:
        return f"signal {-code}"
    return f"status {code}"


def figures_of(process: RouterProcess) -> dict[str, Any]:
    return process.figures or {}
