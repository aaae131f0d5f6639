"""Each buildpack compiling real source into a slug that runs, with real tools (pip, npm, docker)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import cast

import httpx
import pytest

from paas.builds.buildpacks import DockerfileBuildpack, NodeBuildpack, PythonBuildpack, StaticBuildpack
from paas.builds.compile import BuildContext, BuildFailed
from tests.support.require import require

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def context(
    tmp_path: Path, source: Path, build: str = "b1", app: str = "demo"
) -> tuple[BuildContext, list[str]]:
    lines: list[str] = []
    ctx = BuildContext(
        app=app,
        source_dir=source,
        slug_dir=tmp_path / "slugs" / build,
        cache_dir=tmp_path / "cache",
        env={},
        out=lines.append,
    )
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    return ctx, lines


def dyno_env(home: Path, port: int | None = None) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
    if port is not None:
        env["PORT"] = str(port)
    return env


def in_dyno(home: Path, command: str) -> list[str]:
    """bash -c with .profile.d sourced, like a dyno (the process runtime does the same)."""
    script = f'for f in "$HOME"/.profile.d/*.sh; do . "$f"; done; {command}'
    return ["bash", "-c", script]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_python_venv_is_relocatable_and_cached(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / "python-humanize", src)
    (src / "requirements.txt").write_text("humanize>=4.0\nsix\n")
    ctx, lines = context(tmp_path, src)
    await PythonBuildpack().compile(ctx)
    assert "-----> Installing requirements with pip" in lines
    assert any("Successfully installed" in line and "humanize-" in line for line in lines)
    # a dyno runs a copy of the slug somewhere else: the venv must not care where it is
    dyno = tmp_path / "dyno"
    subprocess.run(["cp", "-a", f"{ctx.slug_dir}/.", str(dyno)], check=True)
    shutil.rmtree(ctx.slug_dir)
    probe = subprocess.run(
        in_dyno(
            dyno, 'python -c "import sys, humanize, six; print(sys.prefix); print(humanize.intcomma(1000))"'
        ),
        env=dyno_env(dyno),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    prefix, number = probe.stdout.split()
    assert prefix == str(dyno / ".heroku" / "python") and number == "1,000"

    # unchanged manifests: no pip at all; changed manifests: a fresh environment
    ctx2, lines2 = context(tmp_path, src, "b2")
    started = time.monotonic()
    await PythonBuildpack().compile(ctx2)
    assert time.monotonic() - started < 5
    assert "-----> Restoring cache" in lines2 and not any("pip" in line for line in lines2)
    assert (ctx2.slug_dir / ".heroku" / "python" / "bin" / "python").exists()
    (src / "requirements.txt").write_text("humanize>=4.0\n")
    ctx3, lines3 = context(tmp_path, src, "b3")
    await PythonBuildpack().compile(ctx3)
    assert "-----> Dependencies changed: building a new virtual environment" in lines3
    site = next((ctx3.slug_dir / ".heroku" / "python" / "lib").glob("python3*/site-packages"))
    assert (site / "humanize").is_dir() and not (site / "six.py").exists()
    # the older slug kept its own environment (hard links into a cache that was replaced)
    old_site = next((ctx2.slug_dir / ".heroku" / "python" / "lib").glob("python3*/site-packages"))
    assert (old_site / "six.py").exists()


@pytest.mark.slow
async def test_python_dependency_failure_fails_the_build_and_keeps_the_cache(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "requirements.txt").write_text("./no-such-local-package\n")
    ctx, _ = context(tmp_path, src)
    with pytest.raises(BuildFailed, match="Failed to install the app's Python dependencies"):
        await PythonBuildpack().compile(ctx)
    assert not (ctx.cache_dir / "python" / "tree").exists()
    assert not (ctx.cache_dir / "python" / "tree.new").exists()


@pytest.mark.slow
async def test_node_app_gets_npm_start_and_its_path(tmp_path: Path) -> None:
    require(shutil.which("npm") is not None, "npm is not installed")
    src = tmp_path / "src"
    src.mkdir()
    (src / "package.json").write_text(
        '{"name": "n", "version": "1.0.0", "scripts": {"start": "node server.js"}}'
    )
    (src / "package-lock.json").write_text(
        '{"name": "n", "version": "1.0.0", "lockfileVersion": 3, "requires": true,'
        ' "packages": {"": {"name": "n", "version": "1.0.0"}}}'
    )
    (src / "server.js").write_text(
        "require('http').createServer((q, s) => s.end('node ' + process.env.DYNO))"
        ".listen(+process.env.PORT, '127.0.0.1')\n"
    )
    ctx, lines = context(tmp_path, src)
    await NodeBuildpack().compile(ctx)
    assert "-----> Installing dependencies with npm ci" in lines
    assert ctx.extra["default_process_types"] == {"web": "npm start"}
    assert (ctx.slug_dir / "node_modules").is_dir()
    assert (ctx.slug_dir / ".profile.d" / "nodejs.sh").is_file()
    ctx2, lines2 = context(tmp_path, src, "b2")
    await NodeBuildpack().compile(ctx2)
    assert "-----> Restoring cache" in lines2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "package.json").write_text("{not json")
    with pytest.raises(BuildFailed, match=r"package\.json is not valid JSON"):
        await NodeBuildpack().compile(context(tmp_path, bad, "b3")[0])


async def test_static_site_is_served_and_stops_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.html").write_text("<h1>static hello</h1>")
    (src / ".env").write_text("SECRET=1")
    ctx, _ = context(tmp_path, src)
    await StaticBuildpack().compile(ctx)
    command = ctx.extra["default_process_types"]["web"]  # type: ignore[index]
    port = free_port()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=ctx.slug_dir,
        env=dyno_env(ctx.slug_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    page = await client.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert page.status_code == 200 and "static hello" in page.text
            assert (await client.get(f"http://127.0.0.1:{port}/.env")).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def docker_client() -> object | None:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        return cast(object, client)
    except Exception:
        return None


@pytest.mark.docker
async def test_dockerfile_builds_an_image_and_records_it(tmp_path: Path) -> None:
    client = docker_client()
    require(client is not None, "no Docker engine reachable")
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM scratch\nCOPY index.html /srv/index.html\n")
    (src / "index.html").write_text("hello from an image\n")
    ctx, lines = context(tmp_path, src, "dockerbuild1", app="dockerapp")
    try:
        await DockerfileBuildpack().compile(ctx)
        tag = ctx.extra["docker_image"]
        assert tag == "paas/dockerapp:dockerbuild1"
        assert any("Step 2/2 : COPY index.html /srv/index.html" in line for line in lines), lines
        assert client.images.get(tag).attrs["Id"]  # type: ignore[attr-defined]
        assert ctx.extra["default_process_types"] == {"web": ""}
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "Dockerfile").write_text("FROM paas-no-such-base-image:1\n")
        with pytest.raises(BuildFailed, match="nothing can be pulled on this machine"):
            await DockerfileBuildpack().compile(context(tmp_path, broken, "dockerbuild2", app="dockerapp")[0])
    finally:
        try:
            client.images.remove("paas/dockerapp:dockerbuild1", force=True)  # type: ignore[attr-defined]
        except Exception:
            pass
