"""`paas ps`, `ps:scale`, `ps:restart`, `ps:stop`, `ps:kill`, `restart`, `run`, `run:detached`
against a whole daemon (in-process, process runtime), through the real `paas` script."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_dynos_harness import APP, PY
from tests.support.daemon import DaemonThread

PAAS = str(Path(sys.executable).with_name("paas"))


def deploy(daemon: DaemonThread, app: str, tmp: Path, procfile: dict[str, str]) -> None:
    slug = tmp / f"slug-{app}"
    slug.mkdir()
    (slug / "app.py").write_text(APP)
    (slug / "Procfile").write_text("".join(f"{k}: {v}\n" for k, v in procfile.items()))

    async def go() -> None:
        control = daemon.d.control
        control.create_app(app)
        s = control.create_slug(app, slug, procfile)
        await daemon.d.releases.release_slug(app, s.id, "Deploy")

    daemon.call(go)


def wait_dynos(daemon: DaemonThread, app: str, check: Any, timeout: float = 15) -> list[dict[str, Any]]:
    c = daemon.client()
    deadline = time.monotonic() + timeout
    while True:
        dynos = c.get(f"/apps/{app}/dynos").json()
        if check(dynos):
            return dynos  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"dynos never matched: {dynos}")
        time.sleep(0.05)


def all_up(n: int) -> Any:
    return lambda ds: len(ds) == n and all(d["state"] == "up" for d in ds)


WEB = f"{PY} app.py web"


def test_ps_scale_restart_stop_kill(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "psapp", tmp_path, {"web": WEB, "worker": f"{PY} app.py sleep"})
    wait_dynos(daemon, "psapp", all_up(1))

    out = daemon.cli("ps", "-a", "psapp")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"=== web (Standard-1X): {WEB} (1)"
    assert lines[1] == ""
    assert re.fullmatch(r"web\.1: up \d{4}/\d\d/\d\d \d\d:\d\d:\d\d [+-]\d{4} \(~ \d+s ago\)", lines[2]), (
        lines
    )

    out = daemon.cli("ps:scale", "web=3", "worker+1", "-a", "psapp")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == (
        "Scaling dynos... done, now running web at 3:Standard-1X, worker at 1:Standard-1X"
    )
    dynos = wait_dynos(daemon, "psapp", all_up(4))
    assert [d["name"] for d in dynos] == ["web.1", "web.2", "web.3", "worker.1"]

    data = json.loads(daemon.cli("ps", "--json", "-a", "psapp").stdout)
    web1 = data[0]
    for key in ("name", "type", "state", "since", "command", "memory", "port"):
        assert key in web1
    assert web1["type"] == "web" and web1["command"] == WEB and web1["port"] > 0 and web1["memory"] > 0
    assert web1["size"] == "Standard-1X" and web1["release"] == {"version": 3}

    out = daemon.cli("ps:scale", "web-2", "worker=0:standard-2x", "-a", "psapp")
    assert "now running web at 1:Standard-1X, worker at 0:Standard-2X" in out.stderr
    wait_dynos(daemon, "psapp", all_up(1))

    out = daemon.cli("ps:restart", "web.1", "-a", "psapp")
    assert out.stderr.strip() == "Restarting web.1 dyno on ⬢ psapp... done"
    out = daemon.cli("restart", "-a", "psapp")
    assert out.stderr.strip() == "Restarting dynos on ⬢ psapp... done"
    out = daemon.cli("ps:stop", "web.1", "-a", "psapp")
    assert out.stderr.strip() == "Stopping web.1 dyno on ⬢ psapp... done"
    wait_dynos(daemon, "psapp", all_up(1))
    out = daemon.cli("ps:kill", "web.1", "-a", "psapp")
    assert out.returncode == 0 and "sent SIGKILL" in out.stderr
    wait_dynos(daemon, "psapp", all_up(1))
    log = daemon.cli("logs", "-a", "psapp", "-d", "web.1", "-n", "200").stdout
    assert "heroku[web.1]: Process exited with status 137" in log
    assert "heroku[web.1]: State changed from up to crashed" in log
    assert "heroku[web.1]: Restarting" in log


def test_cli_errors_are_clear(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "errapp", tmp_path, {"web": WEB})
    for args, message in (
        (("ps:restart", "web.9"), "Couldn't find that dyno or process type (web.9) on errapp."),
        (("ps:scale", "web"), "Usage: paas ps:scale"),
        (("ps:scale", "web=lots"), "Unknown dyno size 'lots'"),
        (("ps:scale", "cron+1"), "Couldn't find that process type (cron)"),
        (("ps:scale", "web=2:huge"), "Unknown dyno size 'huge'"),
        (("ps:kill", "web.1", "--signal", "NOPE"), "Unknown signal 'NOPE'."),
        (("run", "--size", "galactic", "ls"), "Unknown dyno size 'galactic'"),
        (("ps", "-a", "nosuchapp"), "Couldn't find that app."),
    ):
        argv = list(args) if "-a" in args else [*args, "-a", "errapp"]
        out = daemon.cli(*argv)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        error = [line for line in out.stderr.splitlines() if line.startswith(" ›   Error: ")]
        assert error and message in out.stderr[out.stderr.index(" ›   Error: ") :], (args, out.stderr)
        assert "Traceback" not in out.stderr


def test_run_attached_pipes_stdin_and_exit_code(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "runapp", tmp_path, {"web": WEB})
    out = daemon.cli("run", "-a", "runapp", "cat", input="hello over stdin\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello over stdin\n"
    assert re.search(r"Running `cat` attached to terminal\.\.\. up, run\.\d{4}", out.stderr)

    out = daemon.cli("run", "-a", "runapp", "-e", "A=1;B=two", "echo $A-$B $DYNO; echo err >&2; exit 3")
    assert out.returncode == 3
    assert re.fullmatch(r"1-two run\.\d{4}\n", out.stdout)
    assert out.stderr.endswith("err\n")

    out = daemon.cli("run", "-a", "runapp", PY, "-c", "import sys; sys.exit(42)")
    assert out.returncode == 42


def test_run_with_a_tty_and_ctrl_c(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "ttyapp", tmp_path, {"web": WEB})
    script = "import sys,time; print('tty', sys.stdin.isatty(), flush=True); time.sleep(30)"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PAAS, "run", "-a", "ttyapp", PY, "-c", script],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=daemon.env(),
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 20
    try:
        while b"tty True" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 4096)
        assert b"tty True" in seen, seen
        assert re.search(rb"Running `.*` attached to terminal\.\.\. up, run\.\d{4}", seen)
        os.write(master, b"\x03")  # raw mode: Ctrl-C travels to the dyno's terminal
        assert proc.wait(15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.slow
def test_run_detached_goes_to_the_log(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "detapp", tmp_path, {"web": WEB})
    out = daemon.cli("run:detached", "-a", "detapp", "echo detached hello from $DYNO")
    assert out.returncode == 0, out.stderr
    match = re.fullmatch(
        r"Running `echo detached hello from \$DYNO` on ⬢ detapp\.\.\. up, (run\.\d{4})\n", out.stderr
    )
    assert match, out.stderr
    name = match.group(1)
    assert out.stdout == f"Run paas logs --app detapp --dyno {name} to view the output.\n"
    deadline = time.monotonic() + 10
    while True:
        log = daemon.cli("logs", "-a", "detapp", "-d", name).stdout
        if "State changed from up to complete" in log:
            break
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert f"app[{name}]: detached hello from {name}" in log
    assert f"heroku[{name}]: Process exited with status 0" in log


def test_run_without_a_tty_forwards_ctrl_c(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "intapp", tmp_path, {"web": WEB})
    proc = subprocess.Popen(
        [PAAS, "run", "-a", "intapp", "echo ready; sleep 30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the CLI when there is no TTY
        assert proc.wait(15) == 130  # the dyno got SIGINT and the CLI exits with its status
    finally:
        if proc.poll() is None:
            proc.kill()
