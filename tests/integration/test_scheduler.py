"""Heroku Scheduler on a whole in-process daemon (process runtime): jobs kept in the state
database, runs as one-off dynos `scheduler.N` with Heroku's lines, a failing job's status,
errors for bad input, and the jobs going with their add-on. The time scale (600: "every 10
minutes" is every second) lets a test watch a job run twice."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.loghub import LogLine
from tests.e2e.test_dynos_cli import WEB, deploy
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

SCALE = 600.0  # every 10 minutes → every second


@pytest.fixture
def sched_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, scheduler_time_scale=SCALE)).start()
    try:
        yield d
    finally:
        d.stop()


def lines(d: DaemonThread, app: str) -> list[LogLine]:
    return d.d.logs.recent(app, 1500)


def runs_of(d: DaemonThread, app: str) -> dict[str, list[str]]:
    """Each scheduler dyno's lines (heroku and app), in order."""
    out: dict[str, list[str]] = {}
    for line in lines(d, app):
        if line.dyno.startswith("scheduler."):
            out.setdefault(line.dyno, []).append(f"{line.source}: {line.text}")
    return out


def wait_for(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def finished(runs: dict[str, list[str]]) -> list[str]:
    return [name for name, ls in runs.items() if "heroku: State changed from up to complete" in ls]


def with_scheduler(d: DaemonThread, app: str, tmp: Path) -> httpx.Client:
    deploy(d, app, tmp, {"web": WEB})
    c = d.client()
    r = c.post(f"/apps/{app}/addons", json={"plan": "scheduler:standard"})
    assert r.status_code == 201, r.text
    assert r.json()["addon_service"]["name"] == "scheduler" and r.json()["config_vars"] == []
    return c


def test_job_runs_on_schedule_twice_with_heroku_lines(sched_daemon: DaemonThread, tmp_path: Path) -> None:
    d = sched_daemon
    c = with_scheduler(d, "cronapp", tmp_path)
    r = c.post("/apps/cronapp/scheduler/jobs", json={"command": "echo tick from $DYNO", "every": "10m"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["schedule"] == "Every 10 minutes" and job["every"] == "10m" and job["at"] is None
    assert job["dyno_size"] == "standard-1x" and job["runs"] == 0 and job["last_run_at"] is None
    assert job["next_run_at"] is not None

    done = wait_for(
        lambda: len(finished(runs_of(d, "cronapp"))) >= 2 and finished(runs_of(d, "cronapp")), "2 runs"
    )
    runs = runs_of(d, "cronapp")
    for name in done[:2]:
        assert re.fullmatch(r"scheduler\.\d{4}", name)
        assert runs[name] == [
            "heroku: Starting process with command `echo tick from $DYNO`",
            "heroku: State changed from starting to up",
            f"app: tick from {name}",
            "heroku: Process exited with status 0",
            "heroku: State changed from up to complete",
        ]
    api = [ln.text for ln in lines(d, "cronapp") if ln.dyno == "api" and "scheduler@" in ln.text]
    assert (
        api[:2]
        == ["Starting process with command `echo tick from $DYNO` by user scheduler@addons.heroku.com"] * 2
    )

    listed = wait_for(
        lambda: [j for j in c.get("/apps/cronapp/scheduler/jobs").json() if j["last_status"] == 0],
        "status kept",
    )
    assert listed[0]["runs"] >= 2 and listed[0]["last_dyno"].startswith("scheduler.")


def test_failing_job_shows_its_status_and_bad_input_is_refused(
    sched_daemon: DaemonThread, tmp_path: Path
) -> None:
    d = sched_daemon
    deploy(d, "failapp", tmp_path, {"web": WEB})
    c = d.client()
    missing = c.post("/apps/failapp/scheduler/jobs", json={"command": "true"})
    assert missing.status_code == 404
    assert missing.json()["message"] == (
        "failapp has no Heroku Scheduler: paas addons:create scheduler:standard -a failapp"
    )
    assert c.post("/apps/failapp/addons", json={"plan": "scheduler"}).status_code == 201
    second = c.post("/apps/failapp/addons", json={"plan": "scheduler:standard"})
    assert second.status_code == 422 and "already has Heroku Scheduler" in second.json()["message"]

    bad = {
        "every": ({"command": "true", "every": "5m"}, "Invalid frequency '5m': use --every 10m, 1h or 1d."),
        "at10": (
            {"command": "true", "every": "10m", "at": ":30"},
            "--at applies to hourly (:MM) and daily (HH:MM) jobs only.",
        ),
        "hour": (
            {"command": "true", "every": "1h", "at": "7"},
            "Invalid time '7' for an hourly job: use :MM (e.g. :30).",
        ),
        "day": (
            {"command": "true", "every": "1d", "at": "25:00"},
            "Invalid time '25:00' for a daily job: use HH:MM in UTC (e.g. 02:30).",
        ),
        "step": (
            {"command": "true", "every": "1h", "at": ":15"},
            "Invalid time ':15': minutes must be a multiple of 10 (:00, :10, ... :50).",
        ),
        "cmd": ({"command": "   "}, "Provide a command for the job to run."),
        "size": ({"command": "true", "dyno_size": "jumbo"}, "Unknown dyno size 'jumbo'"),
    }
    for case, (body, message) in bad.items():
        r = c.post("/apps/failapp/scheduler/jobs", json=body)
        assert r.status_code == 422 and r.json()["message"].startswith(message), (case, r.text)
    assert c.post("/apps/failapp/scheduler/jobs", json={"command": "x", "nope": 1}).status_code == 422
    assert c.get("/apps/failapp/scheduler/jobs").json() == []

    daily = c.post(
        "/apps/failapp/scheduler/jobs", json={"command": "exit 3", "every": "1d", "at": "02:30"}
    ).json()
    assert daily["schedule"] == "Every day at 02:30 UTC" and daily["at"] == "02:30"
    hourly = c.patch(f"/apps/failapp/scheduler/jobs/{daily['id']}", json={"every": "1h", "at": ":40"}).json()
    assert hourly["schedule"] == "Every hour at :40" and hourly["command"] == "exit 3"
    assert c.patch("/apps/failapp/scheduler/jobs/nope", json={"command": "x"}).status_code == 404

    run = c.post(f"/apps/failapp/scheduler/jobs/{daily['id']}/actions/run")
    assert run.status_code == 201 and run.json()["name"].startswith("scheduler.")
    name = run.json()["name"]
    wait_for(lambda: finished(runs_of(d, "failapp")), "the run finished")
    assert "heroku: Process exited with status 3" in runs_of(d, "failapp")[name]
    job = wait_for(
        lambda: [j for j in c.get("/apps/failapp/scheduler/jobs").json() if j["last_status"] == 3], "status 3"
    )[0]
    # the scaled clock (ten minutes a second) makes the hourly job due every 6 s of real time: on
    # a slow machine its own run can follow the manual one, and the job shows whichever ran last
    runs = runs_of(d, "failapp")
    assert "heroku: Process exited with status 3" in runs[job["last_dyno"]]
    assert (job["last_dyno"] == name and job["runs"] == 1) or job["runs"] >= 2

    addon = c.get("/apps/failapp/addons").json()[0]["name"]
    assert c.delete(f"/apps/failapp/addons/{addon}").status_code == 200
    assert c.get("/apps/failapp/scheduler/jobs").json() == []
    assert c.post(f"/apps/failapp/scheduler/jobs/{daily['id']}/actions/run").status_code == 404


def test_missed_runs_are_not_replayed_after_a_restart(paas_home: Path, tmp_path: Path) -> None:
    slow = daemon_settings(paas_home, scheduler_time_scale=60.0)  # every 10 minutes → every 10 s
    d = DaemonThread(slow).start()
    try:
        c = with_scheduler(d, "missapp", tmp_path)
        job = c.post("/apps/missapp/scheduler/jobs", json={"command": "echo hi"}).json()
    finally:
        d.stop()
    time.sleep(0.5)
    d = DaemonThread(slow).start()
    try:
        listed = d.client().get("/apps/missapp/scheduler/jobs").json()
        assert [j["id"] for j in listed] == [job["id"]] and listed[0]["runs"] == 0
        assert listed[0]["next_run_at"] is not None and listed[0]["next_run_at"] >= job["next_run_at"]
        assert runs_of(d, "missapp") == {}
    finally:
        d.stop()


def test_a_run_longer_than_its_interval_is_stopped(sched_daemon: DaemonThread, tmp_path: Path) -> None:
    """Every 10 minutes at this scale is every second: a job still sleeping then gets SIGTERM
    through the one-off dyno's time to live (the dyno manager's own stop, grace and status)."""
    d = sched_daemon
    c = with_scheduler(d, "longapp", tmp_path)
    job = c.post("/apps/longapp/scheduler/jobs", json={"command": "echo start; sleep 30"}).json()
    name = c.post(f"/apps/longapp/scheduler/jobs/{job['id']}/actions/run").json()["name"]
    wait_for(
        lambda: "heroku: State changed from up to complete" in runs_of(d, "longapp").get(name, []), "stop"
    )
    assert runs_of(d, "longapp")[name] == [
        "heroku: Starting process with command `echo start; sleep 30`",
        "heroku: State changed from starting to up",
        "app: start",
        "heroku: Stopping all processes with SIGTERM",
        "heroku: Process exited with status 143",
        "heroku: State changed from up to complete",
    ]
