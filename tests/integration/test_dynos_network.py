"""Dynos are reachable only through the router (issue 14), and still reach their add-ons.

Docker runtime: a dyno bound to all interfaces listens on all interfaces of its own network
namespace, while the host shows nothing of it beyond 127.0.0.1 (its published $PORT); its
config's loopback addresses (a real PostgreSQL, a TCP service) work from inside the
container, whether the runtime enters the namespace itself or through its helper container.
Process runtime: a dyno listening beyond loopback is reported in a `heroku[web.N]` line.
No traffic goes anywhere but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from dynos.manager import DynoManager
from dynos.runtimes.docker import DockerRuntime
from dynos.runtimes.sockets import namespace_listeners
from dynos.stack import LOCAL_STACK_IMAGE
from dynos.types import AppDesired, ProcessDesired
from tests.integration.test_dynos_harness import PY, Harness
from tests.support.pg import shared_cluster
from tests.support.runtimes import require_docker

# What a worker dyno runs to show where its config's addresses lead: a line from a TCP echo
# service and the first byte of a real PostgreSQL's answer to a startup message ("R": it asks
# the user to authenticate), both at the 127.0.0.1 addresses the config names.
PROBE = r"""
import os, socket, struct, time, urllib.parse

echo = urllib.parse.urlparse(os.environ["ECHO_URL"])
with socket.create_connection((echo.hostname, echo.port), timeout=10) as s:
    s.sendall(b"hello\n")
    print("echo:", s.recv(100).decode().strip(), flush=True)
db = urllib.parse.urlparse(os.environ["DATABASE_URL"])
with socket.create_connection((db.hostname, db.port), timeout=10) as s:
    body = b"user\0" + db.username.encode() + b"\0database\0postgres\0\0"
    s.sendall(struct.pack("!ii", 8 + len(body), 196608) + body)
    print("postgres:", s.recv(1).decode(), flush=True)
time.sleep(3600)
"""

# Listens on $PORT at $HOST (the runtime's default, or the config's)
WEB = r"""
import os, socket, time
s = socket.socket()
s.bind((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])))
s.listen()
print("listening on", s.getsockname(), flush=True)
while True:
    conn, _ = s.accept()
    conn.recv(1000)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    conn.close()
"""


@contextlib.asynccontextmanager
async def echo_service() -> AsyncIterator[int]:
    """A TCP service on the host's loopback, like an add-on: echoes one line."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


def host_listeners(port: int) -> list[str]:
    """The addresses this host listens on at `port` (its own network namespace)."""
    return sorted(
        c.laddr.ip
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    )


async def http_get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def docker_harness(home: Path, entry: str, **overrides: object) -> Harness:
    h = Harness(home, runtime="docker", **overrides)
    h.runtime = DockerRuntime(h.settings, namespace_entry=entry)  # type: ignore[arg-type]
    h.manager = DynoManager(h.settings, h.bus, h.logs, h.runtime)
    return h


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("entry", ["setns", "helper"])
async def test_container_dyno_listens_on_the_host_only_at_loopback_and_reaches_its_addons(
    tmp_path: Path, entry: str
) -> None:
    require_docker()
    pg = shared_cluster().address
    async with echo_service() as echo_port:
        h = await docker_harness(tmp_path / "home", entry).start()
        try:
            slug = h.make_slug("net", {"web.py": WEB, "probe.py": PROBE})
            config = {
                "ECHO_URL": f"tcp://127.0.0.1:{echo_port}",
                "DATABASE_URL": f"postgres://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/postgres",
            }
            desired = h.desired(
                web=("python3 web.py", 1), worker=("python3 probe.py", 1), slug=slug, config=config
            )
            await h.manager.apply(desired)
            await h.wait_all_up("demo", 2, timeout=60)
            web = h.manager.dyno("demo", "web.1")
            assert web.port is not None and web.pid is not None

            # the app bound every interface of its own namespace...
            inside = namespace_listeners(web.pid)
            assert inside is not None and [str(s) for s in inside if s.port == web.port] == [
                f"0.0.0.0:{web.port}"
            ]
            # ...and of the host, only loopback answers at its port: the published $PORT
            assert host_listeners(web.port) == ["127.0.0.1"]
            assert (await http_get(web.port)).endswith(b"ok\n")

            # the worker reached both services at the 127.0.0.1 addresses of its config
            await h.wait_line("worker.1", "echo: hello", timeout=30)
            await h.wait_line("worker.1", "postgres: R", timeout=30)
            assert not [line for line in h.lines(source="heroku") if "listens" in line]
        finally:
            await h.close()


@pytest.mark.docker
@pytest.mark.slow
async def test_container_dyno_bound_to_its_own_loopback_is_told_and_fails_to_boot(tmp_path: Path) -> None:
    """As on Heroku: an app listening on localhost only cannot be reached (R10), and says why."""
    require_docker()
    h = await docker_harness(tmp_path / "home", "auto", boot_timeout=10.0, crash_backoff_max=60).start()
    try:
        slug = h.make_slug("net", {"web.py": WEB})
        await h.manager.apply(h.desired(web=("python3 web.py", 1), slug=slug, config={"HOST": "127.0.0.1"}))
        booted = await h.wait_line("web.1", "listening on ('127.0.0.1'", timeout=30)
        port = h.manager.dyno("demo", "web.1").port
        notice = await h.wait_line("web.1", "Process listens on", timeout=10)
        assert notice.text == (
            f"Process listens on 127.0.0.1:{port} inside its container, where the router cannot "
            "reach it: bind 0.0.0.0:$PORT ($HOST)"
        )
        assert notice.at >= booted.at
        await h.wait_line("web.1", "Error R10 (Boot timeout)", timeout=30)
        assert h.find("web.1", "State changed from starting to up") is None
    finally:
        await h.close()


async def test_process_dyno_listening_beyond_loopback_is_reported(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", runtime="process").start()
    try:
        slug = h.make_slug("net", {"web.py": WEB})
        # worker.1 listens too, on loopback: nothing to say about it
        desired = h.desired(
            web=(f"HOST=0.0.0.0 exec {PY} web.py", 1),
            worker=(f"PORT=0 exec {PY} web.py", 1),
            slug=slug,
        )
        await h.manager.apply(desired)
        await h.wait_all_up("demo", 2)
        port = h.manager.dyno("demo", "web.1").port
        assert port is not None and host_listeners(port) == ["0.0.0.0"]
        warning = await h.wait_line("web.1", "Warning: process listens on", timeout=10)
        assert warning.text == (
            f"Warning: process listens on 0.0.0.0:{port}, beyond loopback: other machines can reach "
            "this dyno directly, past the router. Bind 127.0.0.1 (or run dynos in containers: "
            "PAAS_RUNTIME=docker)"
        )
        await h.wait_line("worker.1", "listening on ('127.0.0.1'", timeout=10)
        await asyncio.sleep(0.5)  # a few checks (every 0.2 s)
        assert len([line for line in h.lines("web.1", "heroku") if "Warning" in line]) == 1  # said once
        assert not [line for line in h.lines("worker.1", "heroku") if "listens" in line]
    finally:
        await h.close()


async def test_process_one_off_listening_beyond_loopback_is_reported(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", runtime="process").start()
    try:
        slug = h.make_slug("net", {"web.py": WEB})
        desired = h.desired(web=(f"exec {PY} web.py", 0), slug=slug)
        run = await h.manager.run_oneoff(desired, f"HOST=0.0.0.0 exec {PY} web.py", attach=False)
        await h.wait_line(run.name, "listening on ('0.0.0.0'", timeout=10)
        port = h.manager.dyno("demo", run.name).port
        warning = await h.wait_line(run.name, "Warning: process listens on", timeout=10)
        assert warning.text.startswith(f"Warning: process listens on 0.0.0.0:{port}, beyond loopback")
    finally:
        await h.close()


ECHO_ONCE = (
    'python3 -c \'import os, socket, urllib.parse; u = urllib.parse.urlparse(os.environ["ECHO_URL"]); '
    's = socket.create_connection((u.hostname, u.port), timeout=10); s.sendall(b"boxed\\n"); '
    'print("echo:", s.recv(100).decode().strip(), flush=True); import time; time.sleep(3600)\''
)


@pytest.mark.docker
@pytest.mark.slow
async def test_container_deploy_reaches_its_addons_too(tmp_path: Path) -> None:
    """A release made from an image (its own entrypoint) waits at the gate the same way."""
    require_docker()
    async with echo_service() as echo_port:
        h = await docker_harness(tmp_path / "home", "auto").start()
        try:
            desired = AppDesired(
                "demo",
                3,
                None,
                {"ECHO_URL": f"tcp://127.0.0.1:{echo_port}"},
                (ProcessDesired("worker", ECHO_ONCE, 1),),
                docker_image=LOCAL_STACK_IMAGE,
            )
            await h.manager.apply(desired)
            await h.wait_line("worker.1", "echo: boxed", timeout=60)
        finally:
            await h.close()
