"""ps:autoscale:enable, ps:autoscale:disable (the heroku CLI's), and ps:autoscale (settings
and the last decisions; Heroku shows these on the dashboard)."""

from __future__ import annotations

from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table


def _monitor(client: Client, name: str) -> dict[str, Any] | None:
    monitors = client.get(f"/apps/{name}/formation/web/monitors")
    return next((m for m in monitors if m["action_type"] == "scale"), None)


def _show(name: str, as_json: bool) -> None:
    monitor = _monitor(Client(), name)
    if as_json:
        print_json(monitor)
        return
    if monitor is None or not monitor["is_active"]:
        echo(f"{APP_GLYPH} {name} does not have autoscale enabled.")
    else:
        header(f"{APP_GLYPH} {name} web autoscaling")
        current = monitor["current"]
        observed = "no requests yet" if current["p95_ms"] is None else f"{current['p95_ms']} ms"
        key_values(
            [
                ("Dynos", f"{monitor['min_quantity']}..{monitor['max_quantity']}"),
                ("Desired p95", f"{monitor['value']} ms"),
                ("Current p95", f"{observed} ({current['requests']} requests since the last step)"),
            ]
        )
    decisions = (monitor or {}).get("decisions") or []
    if decisions:
        echo()
        header("Last decisions")
        table(
            [(d["at"], f"web {d['from']} → {d['to']}", d["reason"]) for d in decisions[-10:]],
            ("At", "Scale", "Why"),
        )


def register(cli: click.Group) -> None:
    @cli.command("ps:autoscale")
    @app_option()
    @json_option()
    def ps_autoscale(app: str | None, as_json: bool) -> None:
        """Show web dyno autoscaling: range, goal, current p95 and the last decisions."""
        _show(resolve_app(app), as_json)

    @cli.command("ps:autoscale:enable")
    @click.argument("process_type", required=False, default="web")
    @app_option()
    @click.option("--min", "min_q", type=int, required=True, help="minimum number of dynos")
    @click.option("--max", "max_q", type=int, required=True, help="maximum number of dynos")
    @click.option("--p95", type=int, default=None, help="desired p95 response time (ms, default 1000)")
    @click.option("--notifications", is_flag=True, help="note when the max dyno limit is reached")
    def enable(
        process_type: str, app: str | None, min_q: int, max_q: int, p95: int | None, notifications: bool
    ) -> None:
        """Enable web dyno autoscaling."""
        name = resolve_app(app)
        if process_type != "web":
            raise CliError("Autoscaling is only available for web dynos.")
        client = Client()
        body: dict[str, Any] = {
            "action_type": "scale",
            "is_active": True,
            "min_quantity": min_q,
            "max_quantity": max_q,
            "notification_channels": ["app"] if notifications else [],
            "notification_period": 1440,
            "op": "GREATER_OR_EQUAL",
            "period": 1,
        }
        if p95 is not None:
            body["value"] = p95
        with action("Enabling dyno autoscaling"):
            monitor = _monitor(client, name)
            if monitor is None:
                client.post(f"/apps/{name}/formation/web/monitors", json={**body, "name": "LATENCY_SCALE"})
            else:
                client.patch(f"/apps/{name}/formation/web/monitors/{monitor['id']}", json=body)

    @cli.command("ps:autoscale:disable")
    @click.argument("process_type", required=False, default="web")
    @app_option()
    def disable(process_type: str, app: str | None) -> None:
        """Disable web dyno autoscaling."""
        name = resolve_app(app)
        client = Client()
        with action("Disabling dyno autoscaling"):
            monitor = _monitor(client, name)
            if monitor is None or process_type != "web":
                raise CliError(f"{name} does not have autoscale enabled")
            body = {"is_active": False, "op": "GREATER_OR_EQUAL", "period": 1}
            client.patch(f"/apps/{name}/formation/web/monitors/{monitor['id']}", json=body)
