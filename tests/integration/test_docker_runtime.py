"""The Docker runtime end to end on a real engine: a real daemon, real containers.

Daemon restart adopts running containers; a destroyed app leaves no container; the kernel's
OOM kill in a container is R15; the locally built stack image runs a buildpack-built Python
web app; runtime selection explains itself; nothing without our label is touched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.config import Settings
from dynos.runtimes.docker import APP_LABEL, HOME_LABEL
from dynos.runtimes.select import RuntimeUnavailable, choose_runtime
from dynos.stack import LOCAL_STACK_IMAGE
from tests.integration.test_dynos_harness import Harness
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.procs import DaemonProcess
from tests.support.runtimes import own_containers, python, require_docker

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
HUMANIZE = ROOT / "examples" / "python-humanize"


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_docker()


def docker(*args: str, check: bool = True) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {out.stderr}")
    return out.stdout.strip()


def wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def dynos(client: httpx.Client, app: str) -> list[dict[str, Any]]:
    response = client.get(f"/apps/{app}/dynos")
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


def all_up(client: httpx.Client, app: str, count: int) -> list[dict[str, Any]] | None:
    current = dynos(client, app)
    if len(current) == count and all(d["state"] == "up" for d in current):
        return current
    return None


@pytest.fixture
def docker_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, runtime="docker")).start()
    try:
        yield d
    finally:
        d.stop()
        assert own_containers(paas_home) == [], "a stopped daemon leaves no container behind"


@pytest.fixture
def foreign_containers() -> Iterator[list[str]]:
    """Two containers the daemon did not create: one unlabelled, one of another PAAS_HOME."""
    ids = [
        docker("run", "-d", LOCAL_STACK_IMAGE, "sleep", "120"),
        docker(
            "run",
            "-d",
            "--label",
            f"{HOME_LABEL}=/elsewhere/paas",
            "--label",
            f"{APP_LABEL}=hello",
            LOCAL_STACK_IMAGE,
            "sleep",
            "120",
        ),
    ]
    try:
        yield ids
    finally:
        docker("rm", "-f", *ids, check=False)


def running(container_id: str) -> bool:
    return docker("inspect", "-f", "{{.State.Running}}", container_id, check=False) == "true"


# ---- daemon restart ---------------------------------------------------------------------------


@pytest.mark.slow
def test_daemon_restart_adopts_running_containers(paas_home: Path, foreign_containers: list[str]) -> None:
    env = {"PAAS_RUNTIME": "docker"}
    first = DaemonProcess(paas_home, **env)
    try:
        first.wait_ready()
        assert first.cli("apps:create", "hello").returncode == 0
        deployed = first.cli("deploy", str(HELLO), "-a", "hello", timeout=120)
        assert deployed.returncode == 0, deployed.stderr
        assert first.cli("ps:scale", "web=2", "-a", "hello").returncode == 0
        client = httpx.Client(
            base_url=str(json.loads((paas_home / "daemon.json").read_text())["api_url"]),
            headers={"Authorization": f"Bearer {(paas_home / 'token').read_text().strip()}"},
        )
        before = wait_until(lambda: all_up(client, "hello", 2), what="web.1 and web.2 up")
        containers = {d["name"]: d["container"] for d in before}
        assert all(containers.values())
    finally:
        first.kill()  # SIGKILL: no shutdown code runs; the containers keep running

    ids = own_containers(paas_home)
    assert len(ids) == 2 and all(running(i) for i in ids)

    second = DaemonProcess(paas_home, **env)
    try:
        info = second.wait_ready()
        client = httpx.Client(
            base_url=str(info["api_url"]),
            headers={"Authorization": f"Bearer {(paas_home / 'token').read_text().strip()}"},
        )
        after = wait_until(lambda: all_up(client, "hello", 2), what="formation back up")
        assert {d["name"]: d["container"] for d in after} == containers  # the same containers: adopted
        assert sorted(own_containers(paas_home)) == sorted(ids)  # no duplicate, no orphan
        router = f"http://127.0.0.1:{info['router_port']}/"
        served = {
            httpx.get(router, headers={"Host": "hello.localhost"}, timeout=10).text.count("web.")
            for _ in range(4)
        }
        assert served == {1}
        status = second.cli("status")
        assert "docker (" in status.stdout and "stack " in status.stdout
    finally:
        assert second.terminate() == 0
    assert own_containers(paas_home) == []  # graceful stop: every dyno stopped and removed
    assert all(running(i) for i in foreign_containers)  # never touched what it did not create


FAKE_DAEMON = """
import asyncio, json, sys
from pathlib import Path
import uvloop
from tests.integration.test_dynos_harness import Harness

async def main():
    h = await Harness(Path(sys.argv[1]), runtime="docker").start()
    await h.manager.apply(h.desired(web=("python3 app.py web", 2), config=json.loads(sys.argv[2])))
    await h.wait_all_up("demo", 2, timeout=60)
    print(json.dumps({d.name: d.container for d in h.manager.dynos("demo")}), flush=True)
    await asyncio.sleep(3600)

uvloop.run(main())
"""


@pytest.mark.slow
async def test_adoption_after_a_crash_keeps_the_formation_exact(tmp_path: Path) -> None:
    """A daemon SIGKILLed with web=2 running; the next one wants web=1: web.1 is adopted
    (same container, no restart), web.2's container is removed, nothing is duplicated."""
    home = tmp_path / "home"
    home.mkdir()
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)  # stands for an add-on
    config = {"ECHO_URL": f"tcp://127.0.0.1:{echo.sockets[0].getsockname()[1]}"}
    crashed = subprocess.Popen(
        [sys.executable, "-c", FAKE_DAEMON, str(home), json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert crashed.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(crashed.stdout.readline), 90)
        before = json.loads(line)
    finally:
        crashed.kill()
        crashed.wait(10)
    assert len(own_containers(home)) == 2
    h = await Harness(home, runtime="docker").start()
    try:
        await h.manager.apply(h.desired(web=("python3 app.py web", 1), config=config))
        await h.wait_all_up("demo", 1)
        (web1,) = h.manager.dynos("demo")
        assert web1.container == before["web.1"]
        assert h.runtime.adopted == 1
        # nothing started: the process kept running (no `Starting process` line)
        assert h.lines("web.1", "heroku") == ["State changed from starting to up"]
        # the add-on relays died with the old daemon; the adopted dyno got new ones
        answer = await asyncio.to_thread(docker, "exec", before["web.1"], "python3", "-c", ECHO_CLIENT)
        assert answer == "hello"
        await h.wait_for(lambda: len(own_containers(home)) == 1, timeout=15, what="web.2's container removed")
        assert own_containers(home)[0].startswith(before["web.1"])
        # the adopted dyno is fully supervised: its exit is seen through the events stream
        await h.manager.kill("demo", "web.1", 9)
        await h.wait_line("web.1", "Process exited with status 137")
    finally:
        await h.close()
        echo.close()
    assert own_containers(home) == []


ECHO_CLIENT = """
import os, socket, urllib.parse
url = urllib.parse.urlparse(os.environ["ECHO_URL"])
with socket.create_connection((url.hostname, url.port), timeout=10) as s:
    s.sendall(b"hello\\n")
    print(s.recv(100).decode().strip())
"""


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


# ---- destroy ----------------------------------------------------------------------------------


def test_destroyed_app_leaves_no_container(docker_daemon: DaemonThread) -> None:
    d = docker_daemon
    assert d.cli("apps:create", "gone").returncode == 0
    assert d.cli("apps:create", "kept").returncode == 0
    for app in ("gone", "kept"):
        out = d.cli("deploy", str(HELLO), "-a", app, timeout=120)
        assert out.returncode == 0, out.stderr
    assert d.cli("ps:scale", "web=2", "-a", "gone").returncode == 0
    with d.client() as client:
        wait_until(lambda: all_up(client, "gone", 2), what="gone up")
        wait_until(lambda: all_up(client, "kept", 1), what="kept up")
    home = d.settings.home.resolve()

    def by_app(app: str) -> list[str]:
        return docker(
            "ps",
            "-aq",
            "--filter",
            f"label={HOME_LABEL}={home}",
            "--filter",
            f"label={APP_LABEL}={app}",
        ).split()

    assert len(by_app("gone")) == 2
    destroyed = d.cli("apps:destroy", "gone", "--confirm", "gone")
    assert destroyed.returncode == 0, destroyed.stderr
    wait_until(lambda: by_app("gone") == [], timeout=15, what="gone's containers removed")
    assert len(by_app("kept")) == 1
    # an attached one-off runs in a container too, and leaves none behind
    run = d.cli("run", "-a", "kept", "echo from $DYNO in $HOME", timeout=60)
    assert run.returncode == 0, run.stderr
    assert "from run." in run.stdout and "in /app" in run.stdout
    wait_until(lambda: len(by_app("kept")) == 1, timeout=10, what="one-off container removed")


# ---- OOM --------------------------------------------------------------------------------------


class EngineEvents:
    """The engine's own events for one PAAS_HOME, read with the docker CLI (independent of paas)."""

    def __init__(self, home: Path):
        label = f"label={HOME_LABEL}={home.resolve()}"
        self.proc = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}", "--filter", label],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def actions(self) -> list[str]:
        return [str(e.get("Action") or e.get("status")) for e in self.events]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.mark.slow
async def test_oom_kill_in_the_container_is_r15(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    events = EngineEvents(home)
    h = await Harness(home, runtime="docker", crash_backoff_max=60, memory_check_interval=5.0).start()
    try:
        await asyncio.sleep(0.3)  # `docker events` subscribed
        # 1100 MB on a 512 MB dyno: the container's mem_limit (1 GB) stops it, not our check
        # (memory_check_interval=5 s, so the supervisor never gets to see the figure itself).
        await h.manager.apply(h.desired(worker=(f"{python('docker')} app.py alloc 1100", 1)))
        r15 = await h.wait_line("worker.1", "Error R15 (Memory quota vastly exceeded)", timeout=20)
        await h.wait_line("worker.1", "State changed from up to crashed", after=r15.at)
        texts = h.lines("worker.1", "heroku")
        i = texts.index(r15.text)
        assert texts[i - 1] == "Process running mem=1024M(200.0%)"
        assert texts[i + 1 : i + 4] == [
            "Stopping process with SIGKILL",
            "Process exited with status 137",
            "State changed from up to crashed",
        ]
        assert not h.find("worker.1", "allocated 1100")
        await h.wait_for(lambda: "oom" in events.actions(), timeout=5, what="the engine's oom event")
    finally:
        await h.close()
        events.close()


# ---- the local stack --------------------------------------------------------------------------


@pytest.mark.slow
def test_local_stack_runs_a_buildpack_python_web_app(docker_daemon: DaemonThread, tmp_path: Path) -> None:
    d = docker_daemon
    source = tmp_path / "humanize"
    shutil.copytree(HUMANIZE, source)
    assert d.cli("apps:create", "words").returncode == 0
    built = d.cli("deploy", str(source), "-a", "words", timeout=180)
    assert built.returncode == 0, built.stderr
    assert "Python" in built.stdout + built.stderr
    with d.client() as client:
        (web,) = wait_until(lambda: all_up(client, "words", 1), timeout=60, what="web.1 up")
    assert docker("inspect", "-f", "{{.Config.Image}}", web["container"]) == LOCAL_STACK_IMAGE
    response = httpx.get(d.router_url + "/", headers={"Host": "words.localhost"}, timeout=10)
    assert response.status_code == 200
    # the dependency really came from the slug's virtualenv, run by the stack's interpreter
    probe = d.cli(
        "run", "-a", "words", "python -c 'import humanize, sys; print(humanize.__name__, sys.prefix)'"
    )
    assert probe.returncode == 0, probe.stderr
    assert "humanize /app/.heroku/python" in probe.stdout


# ---- selection --------------------------------------------------------------------------------


async def test_runtime_selection_explains_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path)
    runtime, reason = await choose_runtime(settings)
    assert runtime.name == "docker"
    assert reason.startswith("a Docker engine answered: Docker ")
    assert "stack " in reason

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    runtime, reason = await choose_runtime(settings)
    assert runtime.name == "process"
    assert "no Docker engine answers at" in reason and "no such socket" in reason
    with pytest.raises(RuntimeUnavailable) as err:
        await choose_runtime(settings.with_(runtime="docker"))
    assert str(err.value).startswith(
        "PAAS_RUNTIME=docker but no Docker engine is usable: no Docker engine answers"
    )


def test_daemon_refuses_docker_runtime_without_engine(paas_home: Path) -> None:
    proc = DaemonProcess(paas_home, PAAS_RUNTIME="docker", DOCKER_HOST=f"unix://{paas_home}/none.sock")
    code = proc.proc.wait(60)
    output = proc.output()
    proc.log.close()
    assert code == 1
    assert "PAAS_RUNTIME=docker but no Docker engine is usable" in output
    assert "Traceback" not in output


def test_missing_stack_image_is_explained(tmp_path: Path) -> None:
    problem = asyncio.run(_reason(Settings(home=tmp_path, stack_image="paas/no-such-stack:1")))
    assert problem is None  # falls back to paas/stack:local, which exists
    import docker as sdk

    from dynos.stack import choose_stack_image

    client = sdk.from_env()
    try:
        image, why = choose_stack_image(client, "paas/no-such-stack:1", pull=False)
        assert image == LOCAL_STACK_IMAGE and "could not be pulled" in why
    finally:
        client.close()


async def _reason(settings: Settings) -> str | None:
    from dynos.runtimes.docker import docker_unavailable_reason

    return await docker_unavailable_reason(settings)
