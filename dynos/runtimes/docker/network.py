"""A container dyno's network: its own namespace, $PORT published on 127.0.0.1 only, and the
host's loopback services (add-ons) at the same addresses inside the container.

* **Own namespace, loopback-only port.** Each dyno joins `NETWORK`, a bridge network with
  inter-container traffic off (`enable_icc=false`: one dyno cannot reach another past the
  router), and its `$PORT` is published as `127.0.0.1:$PORT` on the host, so nothing of the
  dyno listens on the host beyond loopback, however the app binds. Inside its namespace the
  app binds `0.0.0.0:$PORT` as on Heroku (the runtime sets `HOST=0.0.0.0` unless the app's
  config sets `HOST`); a dyno that binds only its own loopback is not reachable, as on
  Heroku (R10).
* **Add-ons at the same address.** Add-ons listen on the host's 127.0.0.1 (Postgres, Kafka,
  later Redis), and the config vars say so (`DATABASE_URL=postgres://...@127.0.0.1:5432/...`,
  `KAFKA_URL=kafka+ssl://127.0.0.1:9093`). Rather than rewrite them per runtime (Kafka
  advertises its own address back in Metadata, TLS certificates name 127.0.0.1, and a host
  gateway address would need the servers to listen beyond loopback), the runtime opens a
  listening socket on the container's own 127.0.0.1 for every loopback port named in the
  dyno's config, and relays each connection to the same port on the host's loopback. The
  socket is made inside the container's namespace either by this daemon entering it
  (`setns(2)`, when it has the privilege) or by a short-lived helper container sharing the
  namespace that hands the sockets over a unix socket (`SCM_RIGHTS`), then exits.
* **The gate.** Those sockets can only be made once the container runs, so the dyno's command
  waits on a FIFO (`/run/paas/gate`, bind-mounted read-only) that the runtime writes once its
  relays listen: an app that connects to its database while booting never finds it missing.

Relays are bounded (`MAX_RELAY_CONNECTIONS` per dyno; past it a connection is closed and
counted) and torn down with the dyno. After a daemon restart, adopted containers get new
relays (the old ones died with the old daemon).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from common.config import LOOPBACK

log = logging.getLogger(__name__)

T = TypeVar("T")

NETWORK = "paas-dynos"
NETWORK_LABEL = "io.paas.network"
RUN_MOUNT = "/run/paas"  # the dyno's gate, read-only, inside the container
GATE = "gate"
HELPER_MOUNT = "/run/paas-helper"
MAX_RELAY_PORTS = 32
MAX_RELAY_CONNECTIONS = 256  # per dyno
RELAY_CHUNK = 65536
HELPER_TIMEOUT = 30.0
LISTEN_BACKLOG = 128
CLONE_NEWNET = 0x40000000

# a service on this machine's loopback: scheme://[user[:password]@]host[:port] as in
# DATABASE_URL, or a bare host:port as in KAFKA_SASL_BOOTSTRAP_SERVERS=127.0.0.1:9092
_LOOPBACK_URL = re.compile(
    r"(?i)(?:\b([a-z][a-z0-9+.-]*)://(?:[^@/\s,]*@)?|(?<![\w.@:/\[-]))"
    r"(127\.0\.0\.1|localhost|\[::1\])(?::(\d{1,5}))?(?![\w.-])"
)
_DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}

# What the helper container runs (python3 of the stack image): make the listening sockets in
# the namespace it shares with the dyno, hand them to the daemon, exit.
HELPER_SCRIPT = f"""
import socket, sys
LISTEN_BACKLOG = {LISTEN_BACKLOG}
socks = []
for port in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(LISTEN_BACKLOG)
    socks.append(s)
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
socket.send_fds(c, [b"ok"], [s.fileno() for s in socks])
"""


class NetworkError(RuntimeError):
    """The dyno's network could not be set up (message says why)."""


# ---- the network ---------------------------------------------------------------------------


def ensure_network(client: Any) -> str:
    """The dynos' bridge network, created once per engine (blocking SDK calls)."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        return str(client.networks.get(NETWORK).name)
    try:
        client.networks.create(
            NETWORK,
            driver="bridge",
            options={"com.docker.network.bridge.enable_icc": "false"},
            labels={NETWORK_LABEL: "dynos"},
            check_duplicate=True,
        )
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: another daemon made it meanwhile
            raise
    return NETWORK


def loopback_services(env: Mapping[str, str], own_port: int | None = None) -> dict[int, str]:
    """port -> host for every loopback service the dyno's config names (the add-ons)."""
    found: dict[int, str] = {}
    for value in env.values():
        for match in _LOOPBACK_URL.finditer(str(value)):
            scheme, host, port_text = match.groups()
            port = int(port_text) if port_text else _DEFAULT_PORTS.get((scheme or "").lower())
            if port is None or not 0 < port < 65536 or port == own_port:
                continue
            found.setdefault(port, host.strip("[]"))
            if len(found) == MAX_RELAY_PORTS:
                return found
    return found


# ---- sockets inside the container's namespace -----------------------------------------------


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _listen_in_namespace(pid: int, ports: list[int]) -> list[socket.socket]:
    """On a thread of its own: enter `pid`'s network namespace, listen, come back. A socket
    belongs to the namespace it was made in, whichever thread uses it later."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            return [_listener(port) for port in ports]
        finally:
            _setns(own)  # if this failed the thread ends anyway: it is never reused
    finally:
        os.close(own)


async def _on_own_thread(fn: Callable[[], T]) -> T:
    """Run `fn` on a new thread that ends with it (never a pool thread: it changes namespace)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the caller gave up; what was made is closed with it
            for sock in result if isinstance(result, list) else []:
                sock.close()
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="paas-netns", daemon=True).start()
    return await done


async def listen_by_setns(pid: int, ports: list[int]) -> list[socket.socket]:
    """Listening sockets on `ports` of the namespace of `pid` (needs CAP_SYS_ADMIN)."""
    return await _on_own_thread(lambda: _listen_in_namespace(pid, ports))


class NamespaceHelper:
    """Listening sockets made by a helper container that shares the dyno's namespace (no
    privilege needed beyond the engine's): it sends them over a unix socket, then exits."""

    def __init__(self, run_sdk: Callable[..., Any], client: Any, image: str, labels: dict[str, str]):
        self.run_sdk = run_sdk
        self.client = client
        self.image = image
        self.labels = {**labels, NETWORK_LABEL: "helper"}  # ours: a daemon exit removes it

    async def listen(self, container_id: str, ports: list[int]) -> list[socket.socket]:
        # a short private directory: unix socket paths are limited to 108 bytes
        directory = Path(tempfile.mkdtemp(prefix="paas-netns-"))
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(str(directory / "s"))
            server.listen(1)
            server.setblocking(False)
            helper = asyncio.ensure_future(self._run_helper(container_id, directory, ports))
            try:
                conn, _ = await asyncio.wait_for(
                    asyncio.get_running_loop().sock_accept(server), HELPER_TIMEOUT
                )
            except BaseException:
                helper.cancel()
                raise
            with conn:
                conn.setblocking(True)
                conn.settimeout(HELPER_TIMEOUT)
                _, fds, _, _ = await asyncio.to_thread(socket.recv_fds, conn, 16, len(ports))
            await helper
        finally:
            server.close()
            shutil.rmtree(directory, ignore_errors=True)
        if len(fds) != len(ports):
            for fd in fds:
                os.close(fd)
            raise NetworkError(f"the namespace helper sent {len(fds)} sockets for {len(ports)} ports")
        return [socket.socket(fileno=fd) for fd in fds]

    async def _run_helper(self, container_id: str, directory: Path, ports: list[int]) -> None:
        api = self.client.api
        host_config = api.create_host_config(
            network_mode=f"container:{container_id}",
            binds={str(directory): {"bind": HELPER_MOUNT, "mode": "rw"}},
            auto_remove=True,
        )
        command = ["python3", "-c", HELPER_SCRIPT, f"{HELPER_MOUNT}/s", *map(str, ports)]
        created = await self.run_sdk(
            api.create_container, self.image, command, host_config=host_config, labels=self.labels
        )
        await self.run_sdk(api.start, created["Id"])


# ---- relays ----------------------------------------------------------------------------------


class Relays:
    """Connections accepted inside one container, each relayed to a service on the host's
    loopback. Bounded: past `limit` open connections a new one is closed at once and counted."""

    def __init__(self, limit: int = MAX_RELAY_CONNECTIONS):
        self.limit = limit
        self.active = 0
        self.refused = 0  # over the limit
        self.failed = 0  # the host side did not answer
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, listeners: list[tuple[socket.socket, tuple[str, int]]]) -> None:
        """Serve each listening socket, relaying to its (host, port)."""
        for sock, (host, port) in listeners:
            server = await asyncio.start_server(self._handler(host, port), sock=sock)
            self._servers.append(server)

    def _handler(
        self, host: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._relay(reader, writer, host, port)

        return handle

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        if self.active >= self.limit:
            self.refused += 1
            writer.close()
            return
        self.active += 1
        self._writers.add(writer)
        try:
            await self._connect_and_pipe(reader, writer, host, port)
        finally:
            self.active -= 1
            self._writers.discard(writer)
            writer.close()

    async def _connect_and_pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            self.failed += 1  # like a refused connection: the dyno sees its socket close
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close the other side (flow control by drain())."""
    with contextlib.suppress(OSError):
        while data := await source.read(RELAY_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()


# ---- the gate --------------------------------------------------------------------------------


class Gate:
    """The FIFO the dyno's command waits on until its relays listen."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / GATE
        self._fd: int | None = None

    def make(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.mkfifo(self.path)
        # the dyno may run as any user of its image: it needs to read the FIFO, nothing more
        os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(self.directory, 0o755)

    def open(self) -> None:
        """Let the dyno's command run. The FIFO stays open here (O_RDWR never blocks) until the
        dyno ends, so the line waits for a reader that has not opened it yet."""
        if self._fd is not None:
            return
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
            os.write(self._fd, b"\n")
        except OSError as exc:
            log.warning("could not open the dyno's gate %s: %s", self.path, exc)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def gate_wait() -> str:
    """The shell step that waits at the gate (a no-op when no gate is mounted)."""
    return f"[ -p {RUN_MOUNT}/{GATE} ] && read -r _ < {RUN_MOUNT}/{GATE}"
