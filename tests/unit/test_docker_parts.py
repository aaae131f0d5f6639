"""Docker runtime parts that need no engine: the stack's root filesystem plan and tar, the
engine address, the attach stream's framing, the stats arithmetic, the boot script."""

from __future__ import annotations

import asyncio
import struct
import tarfile
from pathlib import Path

import pytest

from dynos.runtimes.base import DynoSpec
from dynos.runtimes.docker import DockerRuntime, Engine, EngineError
from dynos.runtimes.docker.api import memory_from_stats
from dynos.runtimes.docker.attach import AttachProtocol
from dynos.runtimes.docker.container import boot_script
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
