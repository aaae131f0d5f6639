"""releases, releases:info, releases:output, rollback."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from paas.cli.client import Client
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json


def ago(stamp: str | None) -> str:
    if not stamp:
        return ""
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - when).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s ago" if seconds < 60 else ""
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return when.strftime("%Y/%m/%d %H:%M:%S %z")


def register(cli: click.Group) -> None:
    @cli.command("releases")
    @app_option()
    @json_option()
    @click.option("-n", "--num", default=15, help="number of releases to show")
    def releases(app: str | None, as_json: bool, num: int) -> None:
        """Display the releases for an app."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/releases")
        shown = list(reversed(data))[:num]
        if as_json:
            print_json(shown)
            return
        header(f"{name} Releases - Current: v{next((r['version'] for r in data if r['current']), '?')}")
        if not shown:
            return
        width = max(len(r["description"]) for r in shown)
        for r in shown:
            status = "" if r["status"] == "succeeded" else f" ({r['status']})"
            echo(
                f"v{r['version']:<4} {(r['description'] + status).ljust(width)}  {r['user']['email']}  {ago(r['created_at'])}"
            )

    @cli.command("releases:info")
    @click.argument("release", required=False)
    @app_option()
    @json_option()
    def releases_info(release: str | None, app: str | None, as_json: bool) -> None:
        """View detailed information for a release (default: current)."""
        name = resolve_app(app)
        client = Client()
        if release is None:
            current = [r for r in client.get(f"/apps/{name}/releases") if r["current"]]
            release = str(current[-1]["version"]) if current else "1"
        data = client.get(f"/apps/{name}/releases/{release.lstrip('v')}")
        if as_json:
            print_json(data)
            return
        header(f"Release v{data['version']}")
        key_values(
            [
                ("Add-ons", ", ".join(data["addon_plan_names"])),
                ("Change", data["description"]),
                ("By", data["user"]["email"]),
                ("When", data["created_at"]),
                ("Status", data["status"]),
            ]
        )
        if data.get("config_vars"):
            echo()
            header(f"v{data['version']} Config vars")
            key_values(sorted(data["config_vars"].items()))

    @cli.command("releases:output")
    @click.argument("release", required=False)
    @app_option()
    def releases_output(release: str | None, app: str | None) -> None:
        """View the release command output."""
        name = resolve_app(app)
        client = Client()
        if release is None:
            release = str(client.get(f"/apps/{name}/releases")[-1]["version"])
        data = client.get(f"/apps/{name}/releases/{release.lstrip('v')}")
        echo(data.get("output") or "No release output available.")

    @cli.command("rollback")
    @click.argument("release", required=False)
    @app_option()
    def rollback(release: str | None, app: str | None) -> None:
        """Roll back to a previous release (default: the one before the current)."""
        name = resolve_app(app)
        client = Client()
        with action(f"Rolling back {APP_GLYPH} {name}") as result:
            if release is None:
                data = client.post(f"/apps/{name}/actions/rollback")
            else:
                data = client.post(f"/apps/{name}/releases", json={"release": release.lstrip("v")})
            target = data["description"].removeprefix("Rollback to ")
            result["suffix"] = f"rolled back to {target}"
        echo(" !    Warning: rollback affects code and config vars; it doesn't add or remove add-ons.")
        echo(f" !    To undo, run: paas rollback v{data['version'] - 1}")
