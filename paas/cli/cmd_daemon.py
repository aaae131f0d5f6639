"""`paas daemon` and `paas status`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import click

from common.config import Settings, SettingsError
from paas.cli.client import Client, CliError, paas_home
from paas.cli.main import json_option
from paas.cli.ui import action, key_values, print_json


def register(cli: click.Group) -> None:
    @cli.command("daemon")
    def daemon() -> None:
        """Run the paas daemon in the foreground (router, dynos, API, Kafka)."""
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            raise CliError(str(exc)) from None
        from paas.daemon import run

        sys.exit(run(settings))

    @cli.command("daemon:stop")
    @click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for dynos to stop")
    def daemon_stop(timeout: float) -> None:
        """Stop the running daemon gracefully (dynos get SIGTERM, then their grace period)."""
        home = paas_home()
        try:
            pid = int(json.loads((home / "daemon.json").read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            raise CliError(f"no paas daemon is running for PAAS_HOME={home}") from None
        with action(f"Stopping the paas daemon (pid {pid})"):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                (home / "daemon.json").unlink(missing_ok=True)  # left by a daemon that was killed
                return
            deadline = time.monotonic() + timeout
            while (home / "daemon.json").exists():
                if time.monotonic() > deadline:
                    raise CliError(f"the daemon (pid {pid}) did not stop within {timeout:g} s")
                time.sleep(0.1)

    @cli.command("status")
    @json_option()
    def status(as_json: bool) -> None:
        """Show the daemon's state: ports, runtime (and why), apps."""
        data = Client().get("/status")
        if as_json:
            print_json(data)
            return
        key_values(
            [
                ("Daemon", f"running (pid {data['pid']}, up {data['uptime']}s)"),
                ("Home", data["home"]),
                ("API", data["api_url"]),
                ("Router", data["router_url"]),
                ("HTTPS", data.get("router_https_url", "")),
                ("Kafka", f"127.0.0.1:{data['kafka_port']}" if data.get("kafka_port") else "not running"),
                ("Runtime", f"{data['runtime']} ({data['runtime_reason']})"),
                ("Apps", data["apps"]),
                ("Internal errors", data["internal_errors"]),
            ]
        )
