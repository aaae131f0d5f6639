"""`paas daemon` and `paas status`."""

from __future__ import annotations

import sys

import click

from paas.cli.client import Client, CliError
from paas.cli.main import json_option
from paas.cli.ui import key_values, print_json
from paas.config import Settings, SettingsError


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
                ("Kafka", f"127.0.0.1:{data['kafka_port']}" if data.get("kafka_port") else "not running"),
                ("Runtime", f"{data['runtime']} ({data['runtime_reason']})"),
                ("Apps", data["apps"]),
                ("Internal errors", data["internal_errors"]),
            ]
        )
