"""`paas tui` (the terminal UI) and `paas up` (daemon + sample app + TUI in one command).

`paas up` is what the README's run command does: start the daemon in the background if
none answers for PAAS_HOME (its output goes to PAAS_HOME/daemon.log), create the app
`hello` and deploy `examples/hello` into it when there are no apps yet, then open the TUI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import httpx

from common.config import Settings, SettingsError
from paas.cli.client import Client, CliError, find_daemon
from paas.cli.main import app_option
from paas.cli.ui import action, echo

SAMPLE_APP = "hello"
START_TIMEOUT = 60.0
LOG_TAIL_LINES = 15


def examples_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "examples"


def daemon_answers(timeout: float = 2.0) -> str | None:
    """The API URL of a running daemon for this PAAS_HOME, or None."""
    try:
        url, _token = find_daemon()
    except CliError:
        return None
    try:
        ok = httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return None
    return url if ok else None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_daemon(settings: Settings, timeout: float = START_TIMEOUT) -> tuple[str, int]:
    """Spawn `paas daemon` detached (own session, output to PAAS_HOME/daemon.log), wait until
    it wrote daemon.json and answers /health. Returns (api url, pid)."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)  # private from birth, as the daemon keeps it
    log_path = home / "daemon.log"
    env = dict(os.environ, PAAS_HOME=str(home))
    env.pop("PAAS_API_URL", None)  # the new daemon is found through PAAS_HOME
    with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
        log.write(
            f"\n--- paas up: starting the daemon at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode()
        )
        log.flush()
        script = Path(sys.executable).with_name("paas")
        command = (
            [str(script), "daemon"] if script.exists() else [sys.executable, "-m", "paas.cli.main", "daemon"]
        )
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise CliError(
                f"the daemon exited during start-up (status {code}). Last lines of {log_path}:\n"
                + _tail(log_path)
            )
        info = _daemon_file(home)
        if info is not None and info.get("pid") == proc.pid:
            url = str(info.get("api_url", "")).rstrip("/")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url, proc.pid
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise CliError(
        f"the daemon did not answer within {timeout:.0f} s; it is still starting or stuck "
        f"(pid {proc.pid}). Last lines of {log_path}:\n{_tail(log_path)}"
    )


def _daemon_file(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((home / "daemon.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def deploy_sample(client: Client, directory: Path, app: str) -> dict[str, Any]:
    """Create `app` and deploy `directory` into it, with the build output on stderr."""
    from paas.cli.cmd_deploy import make_tarball

    with action(f"Creating ⬢ {app}"):
        client.post("/apps", json={"name": app})
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "source.tar.gz"
        version = make_tarball(directory, archive)
        with archive.open("rb") as f:
            source = client.post(
                f"/apps/{app}/sources", content=f, headers={"Content-Type": "application/gzip"}
            )
    build = client.post(
        f"/apps/{app}/builds", json={"source_blob": {"url": source["source_blob"]["url"], "version": version}}
    )
    for line in client.stream_lines(f"/apps/{app}/builds/{build['id']}/output", timeout=None):
        click.echo(line, err=True)
    final: dict[str, Any] = client.get(f"/apps/{app}/builds/{build['id']}")
    if final.get("status") != "succeeded":
        raise CliError(f"the sample app's build failed; see `paas builds -a {app}`.")
    return final


def register(cli: click.Group) -> None:
    @cli.command("tui")
    @app_option()
    def tui(app: str | None) -> None:
        """Open the terminal UI: apps, dynos, live router log, logs, Kafka, dataclips."""
        find_daemon()  # a clear error (not a blank screen) when no daemon runs
        from tui.app import PaasApp

        PaasApp(app_name=app).run()

    @cli.command("up")
    @click.option("--no-tui", is_flag=True, help="do everything but open the TUI (scripts, tests)")
    @click.option("--no-sample", is_flag=True, help="do not create and deploy the sample app")
    def up(no_tui: bool, no_sample: bool) -> None:
        """Start the daemon if needed, deploy the sample app on first run, open the TUI."""
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            raise CliError(str(exc)) from None
        url = daemon_answers()
        if url is not None:
            echo(f"paas daemon already running at {url} (PAAS_HOME={settings.home})")
        else:
            with action("Starting the paas daemon") as result:
                url, pid = start_daemon(settings)
                result["suffix"] = f"pid {pid}, API {url}, log {settings.home / 'daemon.log'}"
            echo("The daemon keeps running in the background; stop it with: paas daemon:stop")
        client = Client()
        apps = client.get("/apps") or []
        app_name = apps[0]["name"] if apps else None
        if not apps and not no_sample:
            sample = examples_dir() / SAMPLE_APP
            if not (sample / "Procfile").is_file():
                click.echo(
                    f" ›   Warning: the sample app is not at {sample}; skipping it. "
                    "Deploy your own with: paas apps:create NAME && paas deploy DIR -a NAME",
                    err=True,
                )
            else:
                deploy_sample(client, sample, SAMPLE_APP)
                app_name = SAMPLE_APP
                status = client.get("/status")
                echo(f"Deployed ⬢ {SAMPLE_APP}: http://{SAMPLE_APP}.localhost:{status.get('router_port')}/")
        if no_tui:
            return
        from tui.app import PaasApp

        PaasApp(app_name=app_name).run()
