"""`paas scheduler:*` and `paas ps:autoscale*` through the real `paas` script against a whole
daemon (in-process, process runtime): Heroku's output, errors with exit status 1 and no
traceback, and the formation following an enable's range at once."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.test_dynos_cli import WEB, all_up, deploy, wait_dynos
from tests.support.daemon import DaemonThread


def ok(d: DaemonThread, *args: str) -> tuple[str, str]:
    out = d.cli(*args)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout, out.stderr


def fails(d: DaemonThread, *args: str) -> str:
    out = d.cli(*args)
    assert out.returncode == 1, (args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out.stderr.rstrip("\n")


def test_scheduler_commands(daemon: DaemonThread, tmp_path: Path) -> None:
    d = daemon
    deploy(d, "cliapp", tmp_path, {"web": WEB})
    assert fails(d, "scheduler:jobs:create", "true", "-a", "cliapp") == (
        "Creating job on ⬢ cliapp... !\n"
        " ›   Error: cliapp has no Heroku Scheduler: paas addons:create scheduler:standard -a cliapp"
    )
    ok(d, "addons:create", "scheduler:standard", "-a", "cliapp")
    stdout, _ = ok(d, "scheduler:jobs", "-a", "cliapp")
    assert stdout == "⬢ cliapp has no scheduled jobs. Add one with paas scheduler:jobs:create.\n"

    stdout, stderr = ok(
        d, "scheduler:jobs:create", "echo hourly", "--every", "1h", "--at", ":30", "-a", "cliapp"
    )
    match = re.fullmatch(r"Created job ([0-9a-f-]{36})\n", stdout)
    assert match, stdout
    job_id = match.group(1)
    assert re.fullmatch(
        r"Creating job on ⬢ cliapp\.\.\. done, Every hour at :30, next run \d{4}-\d\d-\d\d \d\d:30:00 UTC\n",
        stderr,
    ), stderr
    stdout, _ = ok(d, "scheduler:jobs", "-a", "cliapp")
    lines = stdout.splitlines()
    assert lines[0] == "=== ⬢ cliapp Scheduled Jobs"
    assert lines[2].split() == [
        "Job",
        "ID",
        "Schedule",
        "Dyno",
        "Size",
        "Next",
        "Run",
        "Last",
        "Run",
        "Command",
    ]
    cells = re.split(r"\s{2,}", lines[4].strip())
    assert cells[:3] == [job_id, "Every hour at :30", "standard-1x"] and cells[4:] == ["never", "echo hourly"]

    assert fails(d, "scheduler:jobs:update", job_id, "--every", "5m", "-a", "cliapp").endswith(
        " ›   Error: Invalid frequency '5m': use --every 10m, 1h or 1d."
    )
    _, stderr = ok(
        d,
        "scheduler:jobs:update",
        job_id,
        "--command",
        "exit 2",
        "--every",
        "1d",
        "--at",
        "04:00",
        "-a",
        "cliapp",
    )
    assert "done, Every day at 04:00 UTC, next run " in stderr
    stdout, stderr = ok(d, "scheduler:jobs:run", job_id, "-a", "cliapp")
    dyno = re.search(r"up, (scheduler\.\d{4})", stderr)
    assert dyno, stderr
    assert stdout == f"Run paas logs --app cliapp --dyno {dyno.group(1)} to view the output.\n"
    ok(d, "scheduler:jobs:destroy", job_id, "-a", "cliapp")
    assert (
        fails(d, "scheduler:jobs:destroy", job_id, "-a", "cliapp")
        == f"Destroying job {job_id} on ⬢ cliapp... !\n ›   Error: Couldn't find that scheduler job."
    )


def test_autoscale_commands(daemon: DaemonThread, tmp_path: Path) -> None:
    d = daemon
    deploy(d, "scaleapp", tmp_path, {"web": WEB, "worker": WEB})
    wait_dynos(d, "scaleapp", lambda ds: len(ds) == 1)
    stdout, _ = ok(d, "ps:autoscale", "-a", "scaleapp")
    assert stdout == "⬢ scaleapp does not have autoscale enabled.\n"
    assert fails(d, "ps:autoscale:disable", "-a", "scaleapp").endswith(
        " ›   Error: scaleapp does not have autoscale enabled"
    )
    assert fails(d, "ps:autoscale:enable", "worker", "--min", "1", "--max", "2", "-a", "scaleapp") == (
        " ›   Error: Autoscaling is only available for web dynos."
    )
    assert fails(d, "ps:autoscale:enable", "--min", "0", "--max", "2", "-a", "scaleapp").endswith(
        " ›   Error: The minimum number of dynos can't be less than 1."
    )
    assert fails(d, "ps:autoscale:enable", "--min", "3", "--max", "2", "-a", "scaleapp").endswith(
        " ›   Error: The maximum number of dynos must be at least the minimum."
    )

    _, stderr = ok(
        d, "ps:autoscale:enable", "web", "--min", "2", "--max", "4", "--p95", "500", "-a", "scaleapp"
    )
    assert stderr == "Enabling dyno autoscaling... done\n"
    wait_dynos(d, "scaleapp", all_up(2))  # the range applies at once: web 1 → 2
    stdout, _ = ok(d, "ps:autoscale", "-a", "scaleapp")
    lines = [re.sub(r"\s+", " ", line) for line in stdout.splitlines()]
    assert lines[:4] == [
        "=== ⬢ scaleapp web autoscaling",
        "Dynos: 2..4",
        "Desired p95: 500 ms",
        "Current p95: no requests yet (0 requests since the last step)",
    ]
    assert lines[5] == "=== Last decisions" and lines[8].endswith("web 1 → 2 below the minimum 2")
    api = [ln.text for ln in d.d.logs.recent("scaleapp", 100, dyno="api")]
    assert "Scaled to web@2:Standard-1X by user autoscaling" in api
    assert "Scale to web=2 by autoscaling (below the minimum 2)" in api

    _, stderr = ok(d, "ps:autoscale:disable", "-a", "scaleapp")
    assert stderr == "Disabling dyno autoscaling... done\n"
    stdout, _ = ok(d, "ps:autoscale", "-a", "scaleapp")
    assert stdout.startswith("⬢ scaleapp does not have autoscale enabled.\n")
