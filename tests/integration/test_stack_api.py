"""`paas stack` and `paas stack:build` go through the daemon's API (`GET /stack`,
`POST /stack/builds` streaming its progress), which talks to the real local engine."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread
from tests.support.runtimes import require_docker


def remove_image(name: str) -> None:
    subprocess.run(["docker", "rmi", "-f", name], capture_output=True, timeout=120)


@pytest.mark.docker
def test_stack_shows_what_dynos_run_on(daemon: DaemonThread) -> None:
    require_docker()  # builds paas/stack:local if missing
    shown = daemon.cli("stack", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["local"]["name"] == "paas/stack:local" and data["local"]["present"] is True
    assert data["in_use"] in (data["configured"]["name"], "paas/stack:local")
    human = daemon.cli("stack")
    assert "Stack image" in human.stdout and "In use" in human.stdout


@pytest.mark.docker
@pytest.mark.slow
def test_stack_build_streams_progress_one_build_at_a_time(daemon: DaemonThread) -> None:
    require_docker()
    tag = f"paas-test/stack:{secrets.token_hex(4)}"  # never the shared paas/stack:local
    try:
        with daemon.client(timeout=900) as c, c.stream("POST", "/stack/builds", json={"tag": tag}) as build:
            assert build.status_code == 201
            assert build.headers["content-type"] == "application/x-ndjson"
            lines = build.iter_lines()
            first = json.loads(next(lines))
            assert first == {
                "type": "progress",
                "message": "Collecting the root filesystem from the host's packages",
            }
            second = c.post("/stack/builds", json={"tag": tag})
            assert second.status_code == 409
            assert second.json()["message"] == "A stack build is already running; wait for it to finish."
            events = [json.loads(line) for line in lines if line]
        result = events[-1]
        assert result["type"] == "result" and result["image"] == tag and result["id"].startswith("sha256:")
        assert {e["type"] for e in events[:-1]} == {"progress"}
        assert any(e["message"] == f"Importing as {tag}" for e in events)
        inspected = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", tag], capture_output=True, text=True, timeout=60
        )
        assert inspected.stdout.strip() == result["id"]

        # the CLI follows the same stream
        again = daemon.cli("stack:build", "--tag", tag, timeout=900)
        assert again.returncode == 0, again.stderr
        assert "-----> Collecting the root filesystem from the host's packages" in again.stdout
        assert f"-----> Built {tag} (" in again.stdout
        assert "restart the daemon to pick it up" in again.stdout
    finally:
        remove_image(tag)


def test_stack_build_refuses_a_bad_tag(daemon: DaemonThread) -> None:
    bad = daemon.cli("stack:build", "--tag", "Not A/Tag!")
    assert bad.returncode == 1
    assert "Invalid image name 'Not A/Tag!': use [registry/]name[:tag], lowercase" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert daemon.client().post("/stack/builds", json={"tag": "x", "more": 1}).status_code == 422


def test_stack_without_an_engine_is_a_clear_503(
    daemon: DaemonThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{missing}")  # the in-process daemon reads it per call
    for response in (daemon.client().get("/stack"), daemon.client().post("/stack/builds")):
        assert response.status_code == 503
        assert response.json()["message"] == (
            f"The stack image needs a Docker engine: no Docker engine answers at {missing} "
            "(no such socket); start one (scripts/ensure-docker.sh) and try again"
        )
