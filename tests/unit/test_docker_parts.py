"""Docker runtime parts that need no engine: the stack's root filesystem plan and tar, the
engine address, the attach stream's framing, the stats arithmetic, the boot script."""

from __future__ import annotations

import asyncio
import socket
import struct
import tarfile
from pathlib import Path

import docker
import pytest

from dynos.runtimes.base import DynoSpec
from dynos.runtimes.docker import DockerRuntime, Engine, EngineError
from dynos.runtimes.docker.api import memory_from_stats
from dynos.runtimes.docker.attach import AttachProtocol
from dynos.runtimes.docker.container import boot_script, plan_container
from dynos.runtimes.docker.network import Relays, loopback_services
from dynos.runtimes.sockets import parse_listeners
from dynos.stack import RootfsPlan, plan_rootfs, write_rootfs_tar


def test_rootfs_plan_has_a_shell_python_and_no_docs() -> None:
    plan = plan_rootfs(with_build_python=False)
    paths = plan.paths
    assert "/usr/bin/bash" in paths
    assert any(p.startswith("/usr/bin/python3") for p in paths)
    assert any("/libc.so" in p for p in paths)
    assert any(p.endswith(".pyc") and "/usr/lib/python3" in p for p in paths)  # no recompiling at boot
    assert not any(p.startswith("/usr/share/doc/") for p in paths)
    assert not any(p.startswith("/lib/") for p in paths if not p.startswith("/lib64"))  # usr-merge canonical
    assert plan.generated["/etc/passwd"].startswith("root:x:0:0:")


def test_rootfs_tar_keeps_links_and_generated_files(tmp_path: Path) -> None:
    plan = RootfsPlan(
        paths={"/usr/bin/bash", "/usr/bin/sh"}, generated={"/etc/hosts": "127.0.0.1 localhost\n"}
    )
    target = tmp_path / "root.tar"
    members, content = write_rootfs_tar(plan, target)
    with tarfile.open(target) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert names["usr/bin/bash"].isfile() and content >= names["usr/bin/bash"].size
    assert names["tmp"].isdir() and names["tmp"].mode == 0o1777
    assert names["app"].isdir()
    assert names["etc/hosts"].size == len("127.0.0.1 localhost\n")
    if Path("/bin").is_symlink():
        assert names["bin"].issym()
    assert members == len(names)


def test_engine_address() -> None:
    assert Engine.from_env({}).unix_path == "/var/run/docker.sock"
    assert (
        Engine.from_env({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}).unix_path
        == "/run/user/1000/docker.sock"
    )
    local = Engine.from_env({"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert (local.host, local.port, local.base_url) == ("127.0.0.1", 2375, "http://127.0.0.1:2375")
    with pytest.raises(EngineError, match="must run on this machine"):
        Engine.from_env({"DOCKER_HOST": "tcp://10.1.2.3:2375"})
    with pytest.raises(EngineError, match="TLS"):
        Engine.from_env({"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"})
    with pytest.raises(EngineError, match="only unix"):
        Engine.from_env({"DOCKER_HOST": "ssh://me@box"})


def frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + struct.pack(">I", len(data)) + data


async def test_attach_stream_demultiplexes_split_frames() -> None:
    seen: list[tuple[str, bytes]] = []
    proto = AttachProtocol(b"", lambda s, d: seen.append((s, d)), multiplexed=True, merge=False)
    wire = (
        b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n"
        + frame(1, b"out\n")
        + frame(2, b"err\n")
        + frame(1, b"more")
    )
    for i in range(0, len(wire), 5):  # arbitrary chunking, like the socket's
        proto.data_received(wire[i : i + 5])
    assert proto.ready.done() and proto.ready.exception() is None
    proto.eof_received()
    assert seen == [
        ("stdout", b"out\n"),
        ("stderr", b"err\n"),
        ("stdout", b"more"),
        ("stdout", b""),
        ("stderr", b""),
    ]


async def test_attach_refused_is_an_error() -> None:
    proto = AttachProtocol(b"", lambda s, d: None, multiplexed=True, merge=True)
    proto.data_received(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(EngineError, match="404"):
        await asyncio.wait_for(proto.ready, 1)


def test_memory_excludes_inactive_page_cache() -> None:
    v1 = {"memory_stats": {"usage": 300, "stats": {"total_inactive_file": 100}}}
    v2 = {"memory_stats": {"usage": 300, "stats": {"inactive_file": 50}}}
    assert memory_from_stats(v1) == 200
    assert memory_from_stats(v2) == 250
    assert memory_from_stats({}) == 0


def test_boot_script_and_fingerprint(tmp_path: Path) -> None:
    spec = DynoSpec(
        app="a",
        name="web.1",
        type="web",
        command="python app.py",
        release=3,
        env={"A": "1"},
        slug_dir=tmp_path,
        wants_port=True,
    )
    log = boot_script(spec)
    assert log.startswith('cp -a /slug/. "$HOME"/') and log.endswith('exec bash -c "$1" 2>&1')
    pty = boot_script(DynoSpec(**{**spec.__dict__, "stdio": "pty", "tty_rows": 40, "tty_cols": 100}))
    assert "stty rows 40 cols 100" in pty and not pty.endswith("2>&1")
    same = DockerRuntime.fingerprint(spec, "img")
    assert same == DockerRuntime.fingerprint(DynoSpec(**spec.__dict__), "img")
    assert same != DockerRuntime.fingerprint(DynoSpec(**{**spec.__dict__, "env": {"A": "2"}}), "img")
    assert same != DockerRuntime.fingerprint(spec, "other")


# ---- network ----------------------------------------------------------------------------------

TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1
"""
TCP6_TABLE = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1
   1: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1
   2: 0000000000000000FFFF00000100007F:1F93 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 666 1
"""


def test_listening_sockets_from_proc_tables() -> None:
    found = parse_listeners(TCP_TABLE) + parse_listeners(TCP6_TABLE)
    assert [(str(s), s.inode, s.loopback) for s in found] == [
        ("127.0.0.1:8080", 111, True),
        ("0.0.0.0:22", 222, False),  # row 2 is a connection, not a listener
        ("[::]:8081", 444, False),
        ("[::1]:8082", 555, True),
        ("[::ffff:127.0.0.1]:8083", 666, True),
    ]


def test_loopback_services_named_by_the_config() -> None:
    env = {
        "DATABASE_URL": "postgres://u:p@127.0.0.1:54321/db",
        "KAFKA_URL": "kafka+ssl://127.0.0.1:9093,kafka+ssl://localhost:9094",
        "REDIS_URL": "redis://h:secret@[::1]",
        "PLAIN": "postgresql://localhost/db",
        "ELSEWHERE": "postgres://u:p@db.example.com:5432/db",
        "BOOTSTRAP": "127.0.0.1:9092,localhost:9095",
        "NOT_LOOPBACK": "10.127.0.0.1:7000 127.0.0.1.nip.io:7001 localhost-ish:7002 x@localhost:7003",
        "NO_PORT": "localhost",
        "OWN": "http://127.0.0.1:5000/",
    }
    assert loopback_services(env, own_port=5000) == {
        54321: "127.0.0.1",
        9093: "127.0.0.1",
        9094: "localhost",
        6379: "::1",
        5432: "localhost",
        9092: "127.0.0.1",
        9095: "localhost",
    }


async def test_relays_are_bounded_and_count_what_they_refuse() -> None:
    """The third connection is over the limit: closed at once, and counted."""

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"up:" + await reader.readline())
        await writer.drain()
        await reader.read()  # hold the connection until the client goes
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    inside = socket.socket()  # stands for the listener made inside a container
    inside.bind(("127.0.0.1", 0))
    inside.listen()
    relay_port = int(inside.getsockname()[1])
    relays = Relays(limit=2)
    await relays.start([(inside, ("127.0.0.1", port))])
    try:
        clients = [await asyncio.open_connection("127.0.0.1", relay_port) for _ in range(3)]
        answers = []
        for reader, writer in clients:
            writer.write(b"hi\n")
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(100), 5))
        assert sorted(answers) == [b"", b"up:hi\n", b"up:hi\n"]
        assert relays.active == 2 and relays.refused == 1
        for _, writer in clients:
            writer.close()
    finally:
        await relays.close()
        server.close()


def test_container_plan_publishes_port_on_loopback_and_gates_the_command(tmp_path: Path) -> None:
    spec = DynoSpec(
        app="a", name="web.1", type="web", command="python app.py", release=3, env={}, slug_dir=tmp_path
    )
    plan = plan_container(spec, "img", home_label="/h", name="n", fingerprint="f", port=5123)
    config = plan.host_config(docker.APIClient(version="1.41"), spec)
    assert config["NetworkMode"] == "paas-dynos"
    assert config["PortBindings"] == {"5123/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5123"}]}
    assert plan.ports == [5123] and plan.environment["PORT"] == "5123"
    assert plan.environment["HOST"] == "0.0.0.0"  # all of its own namespace's interfaces
    assert "gate" not in " ".join(plan.command or [])
    own_host = DynoSpec(**{**spec.__dict__, "env": {"HOST": "127.0.0.1"}})
    assert (
        plan_container(own_host, "img", home_label="/h", name="n", fingerprint="f", port=1).environment[
            "HOST"
        ]
        == "127.0.0.1"
    )

    gated = plan_container(
        spec, "img", home_label="/h", name="n", fingerprint="f", port=5123, gate_dir=tmp_path / "run"
    )
    script = (gated.command or [])[2]
    assert script.index("read -r _ < /run/paas/gate") < script.index("exec bash")
    assert gated.binds[str(tmp_path / "run")] == {"bind": "/run/paas", "mode": "ro"}

    image = DynoSpec(**{**spec.__dict__, "command": "", "slug_dir": None, "docker_image": "mine"})
    boxed = plan_container(
        image,
        "mine",
        home_label="/h",
        name="n",
        fingerprint="f",
        port=1,
        gate_dir=tmp_path / "run",
        image_config={"Entrypoint": ["/entry"], "Cmd": ["serve", "--fast"]},
    )
    assert boxed.entrypoint is not None and boxed.entrypoint[-2:] == ["paas-gate", "/entry"]
    assert boxed.command == ["serve", "--fast"]
