"""pg:backups and its commands: capture, restore, download, url, info, delete, schedule(s), unschedule."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, resolve_app
from paas.cli.pgbackups_view import Waiter, compression, filesize, info_status, status
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, table, warn

SERVICE = "heroku-postgresql"
CAPTURE_HINT = "Capture one with paas pg:backups:capture"


def database(client: Client, app: str, ident: str | None) -> dict[str, Any]:
    """The Postgres add-on named (name, attachment, ATTACHMENT_URL), else the DATABASE one."""
    addons: list[dict[str, Any]] = [
        a for a in client.get(f"/apps/{app}/addons") if a["addon_service"]["name"] == SERVICE
    ]
    if not addons:
        raise CliError(f"{APP_GLYPH} {app} has no databases.")
    if ident is None:
        return next((a for a in addons if a["attachment"] == "DATABASE"), addons[0])
    wanted = ident[:-4] if ident.upper().endswith("_URL") else ident
    for a in addons:
        if wanted in (a["name"], a["id"]) or wanted.upper() == a["attachment"]:
            return a
    raise CliError(
        f"Unknown database: {ident}. Valid options are: {', '.join(a['attachment'] for a in addons)}"
    )


def confirm_app(app: str, confirm: str | None, what: str) -> None:
    if confirm == app:
        return
    if confirm is not None or not sys.stdin.isatty():
        raise CliError(f"Confirmation did not match {app}. Aborted. Pass --confirm {app} to {what}.")
    typed = click.prompt(
        f" !    WARNING: Destructive Action\n !    This command will {what}.\n"
        f" !    To proceed, type {app} or re-run this command with --confirm {app}\n"
    )
    if typed != app:
        raise CliError(f"Confirmation did not match {app}. Aborted.")


def backups_of(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in transfers if t["from_type"] == "pg_dump" and t["to_type"] == "gof3r"]


def pick(client: Client, app: str, backup: str | None, *, finished: bool = True) -> dict[str, Any]:
    """The backup named, else the app's latest (finished, when `finished`) one."""
    every = client.get(f"/client/v11/apps/{app}/transfers")
    transfers = backups_of(every)
    if backup is not None:
        found = next((t for t in every if t["name"] == backup.lower()), None)
        if found is None:
            raise CliError(f"Invalid Backup: {backup}")
        return dict(found)
    if finished:
        transfers = [t for t in transfers if t["succeeded"]]
    if not transfers:
        raise CliError(f"No backups on {APP_GLYPH} {app}. {CAPTURE_HINT}")
    return dict(max(transfers, key=lambda t: t["num"]))


def show_list(transfers: list[dict[str, Any]]) -> None:
    newest_first = sorted(transfers, key=lambda t: t["num"], reverse=True)
    header("Backups")
    backups = backups_of(newest_first)
    if backups:
        rows = [
            (t["name"], t["created_at"], status(t), filesize(t["processed_bytes"]), t["from_name"])
            for t in backups
        ]
        table(rows, ["ID", "Created at", "Status", "Size", "Database"])
    else:
        echo(f"No backups. {CAPTURE_HINT}")
    echo()
    header("Restores")
    restores = [t for t in newest_first if t["to_type"] == "pg_restore"][:10]
    if restores:
        rows = [
            (t["name"], t["created_at"], status(t), filesize(t["processed_bytes"]), t["to_name"])
            for t in restores
        ]
        table(rows, ["ID", "Started at", "Status", "Size", "Database"])
    else:
        echo("No restores found. Use paas pg:backups:restore to restore a backup")
    echo()


def show_info(t: dict[str, Any]) -> None:
    size = filesize(t["processed_bytes"])
    if t["finished_at"]:
        size += compression(t["processed_bytes"], t["source_bytes"])
    header(f"Backup {t['name']}")
    key_values(
        [
            ("Database", t["from_name"]),
            ("Started at", t["started_at"]),
            ("Finished at", t["finished_at"]),
            ("Status", info_status(t)),
            ("Type", "Scheduled" if t["schedule"] else "Manual"),
            ("Original DB Size", filesize(t["source_bytes"])),
            ("Backup Size", size),
        ]
    )
    echo()
    header("Backup Logs")
    for line in t.get("logs") or []:
        echo(f"{line['created_at']} {line['message']}")
    echo()


def download_to(url: str, output: Path) -> int:
    """Stream the archive to `output` (a partial name until complete), showing bytes as they come."""
    partial = output.with_name(output.name + ".partial")
    tty = sys.stderr.isatty()
    got = 0
    with httpx.stream("GET", url, timeout=httpx.Timeout(60.0, connect=5.0)) as r:
        if r.status_code != 200:
            r.read()
            raise CliError(f"Download failed ({r.status_code}): {r.text.strip()}")
        total = int(r.headers.get("content-length", "0"))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for chunk in r.iter_bytes(256 * 1024):
                f.write(chunk)
                got += len(chunk)
                if tty:
                    pct = got * 100 // total if total else 100
                    click.echo(f"\rDownloading {output}... {pct}% | {got}/{total} bytes", err=True, nl=False)
    partial.replace(output)
    if tty:
        click.echo("", err=True)
    return got


def default_output() -> Path:
    """`latest.dump`, or `latest.dump.1`, `.2`... when it exists (never overwrite one)."""
    path, n = Path("latest.dump"), 1
    while path.exists():
        path, n = Path(f"latest.dump.{n}"), n + 1
    return path


def register(cli: click.Group) -> None:
    register_reading(cli)
    register_transfers(cli)
    register_schedules(cli)


def register_reading(cli: click.Group) -> None:
    @cli.command("pg:backups")
    @app_option()
    def pg_backups(app: str | None) -> None:
        """List database backups."""
        target = resolve_app(app)
        show_list(Client().get(f"/client/v11/apps/{target}/transfers"))

    @cli.command("pg:backups:info")
    @click.argument("backup_id", required=False)
    @app_option()
    def pg_backups_info(backup_id: str | None, app: str | None) -> None:
        """Get information about a specific backup."""
        target = resolve_app(app)
        client = Client()
        chosen = pick(client, target, backup_id, finished=False)
        show_info(
            client.get(f"/client/v11/apps/{target}/transfers/{chosen['num']}", params={"verbose": "true"})
        )

    @cli.command("pg:backups:url")
    @click.argument("backup_id", required=False)
    @app_option()
    def pg_backups_url(backup_id: str | None, app: str | None) -> None:
        """Get a secret, time-limited URL of a backup."""
        target = resolve_app(app)
        client = Client()
        num = pick(client, target, backup_id)["num"]
        echo(client.post(f"/client/v11/apps/{target}/transfers/{num}/actions/public-url")["url"])

    @cli.command("pg:backups:download")
    @click.argument("backup_id", required=False)
    @app_option()
    @click.option("-o", "--output", default=None, help="location to download to. Defaults to latest.dump")
    def pg_backups_download(backup_id: str | None, app: str | None, output: str | None) -> None:
        """Download a database backup."""
        target = resolve_app(app)
        client = Client()
        path = Path(output) if output else default_output()
        with action(f"Getting backup from {APP_GLYPH} {target}") as result:
            num = pick(client, target, backup_id)["num"]
            url = client.post(f"/client/v11/apps/{target}/transfers/{num}/actions/public-url")["url"]
            result["suffix"] = f"#{num}"
        got = download_to(url, path)
        click.echo(f"Downloading {path}... done, {got} bytes", err=True)


def register_transfers(cli: click.Group) -> None:
    @cli.command("pg:backups:capture")
    @click.argument("database_name", metavar="DATABASE", required=False)
    @app_option()
    @click.option("-v", "--verbose", is_flag=True, help="show the backup's logs as it runs")
    @click.option("--wait-interval", type=float, default=1.0, help="seconds between progress checks")
    def pg_backups_capture(
        database_name: str | None, app: str | None, verbose: bool, wait_interval: float
    ) -> None:
        """Capture a new backup."""
        target = resolve_app(app)
        client = Client()
        db = database(client, target, database_name)
        with action(f"Starting backup of {db['name']}"):
            t = client.post(f"/client/v11/databases/{db['id']}/backups")
        echo()
        echo("Use Ctrl-C at any time to stop monitoring progress; the backup will continue running.")
        echo("Use paas pg:backups:info to check progress.")
        echo("Stop a running backup with paas pg:backups:cancel.")
        echo()
        Waiter(client, target, wait_interval, verbose).wait(
            f"Backing up {t['from_name']} to {t['name']}", t["num"]
        )

    @cli.command("pg:backups:restore")
    @click.argument("backup", required=False)
    @click.argument("database_name", metavar="DATABASE", required=False)
    @app_option()
    @click.option("-c", "--confirm", default=None, help="set to app name to bypass the confirm prompt")
    @click.option("-v", "--verbose", is_flag=True, help="show the restore's logs as it runs")
    @click.option("--wait-interval", type=float, default=1.0, help="seconds between progress checks")
    def pg_backups_restore(
        backup: str | None, database_name: str | None, app: str | None, confirm: str | None, verbose: bool,
        wait_interval: float,
    ) -> None:  # fmt: skip
        """Restore a backup (default latest) to a database: BACKUP is b001, APP::b001 or a URL."""
        target = resolve_app(app)
        client = Client()
        db = database(client, target, database_name)
        confirm_app(target, confirm, f"remove all data from {db['name']} and replace it with the backup")
        body: dict[str, Any] = {"app": target}
        if backup and backup.startswith(("http://", "https://")):
            body["backup_url"] = backup
        else:
            body["backup"] = backup
        label = "the backup at that URL" if "backup_url" in body else backup or "the latest backup"
        with action(f"Starting restore of {label} to {db['name']}"):
            t = client.post(f"/client/v11/databases/{db['id']}/restores", json=body)
        echo()
        echo("Use Ctrl-C at any time to stop monitoring progress; the backup will continue restoring.")
        echo("Use paas pg:backups to check progress.")
        echo("Stop a running restore with paas pg:backups:cancel.")
        echo()
        done = Waiter(client, target, wait_interval, verbose).wait("Restoring", t["num"])
        if done["warnings"]:
            explain_warnings(client, target, done)

    @cli.command("pg:backups:cancel")
    @click.argument("backup_id", required=False)
    @app_option()
    def pg_backups_cancel(backup_id: str | None, app: str | None) -> None:
        """Cancel an in-progress backup or restore (default newest)."""
        target = resolve_app(app)
        client = Client()
        every = client.get(f"/client/v11/apps/{target}/transfers")
        if backup_id is not None:
            chosen = next((t for t in every if t["name"] == backup_id.lower()), None)
            if chosen is None:
                raise CliError(f"Invalid Backup: {backup_id}")
        else:
            chosen = next((t for t in sorted(every, key=lambda t: -t["num"]) if not t["finished_at"]), None)
            if chosen is None:
                raise CliError("No active backups/transfers")
        with action(f"Cancelling {chosen['name']}"):
            client.post(f"/client/v11/apps/{target}/transfers/{chosen['uuid']}/actions/cancel")

    @cli.command("pg:backups:delete")
    @click.argument("backup_id")
    @app_option()
    @click.option("-c", "--confirm", default=None, help="set to app name to bypass the confirm prompt")
    def pg_backups_delete(backup_id: str, app: str | None, confirm: str | None) -> None:
        """Delete a backup."""
        target = resolve_app(app)
        confirm_app(target, confirm, f"delete backup {backup_id}")
        client = Client()
        with action(f"Deleting backup {backup_id} on {APP_GLYPH} {target}"):
            client.delete(f"/client/v11/apps/{target}/transfers/{backup_id}")


def explain_warnings(client: Client, app: str, t: dict[str, Any]) -> None:
    full = client.get(f"/client/v11/apps/{app}/transfers/{t['num']}", params={"verbose": "true"})
    errors = [line["message"] for line in full.get("logs") or [] if "error" in line["message"].lower()]
    warn(
        f"{t['name']} finished with {t['warnings']} errors ignored by pg_restore: "
        "objects in the database conflicted with the backup."
    )
    for message in errors[:5]:
        click.echo(f" ›   {message}", err=True)
    click.echo(f" ›   Run paas pg:backups:info {t['name']} for every line.", err=True)


def register_schedules(cli: click.Group) -> None:
    @cli.command("pg:backups:schedule")
    @click.argument("database_name", metavar="DATABASE", required=False)
    @app_option()
    @click.option(
        "--at", required=True, help="at a specific (24h) hour in the given timezone: '[HOUR]:00 [TIMEZONE]'"
    )
    def pg_backups_schedule(database_name: str | None, app: str | None, at: str) -> None:
        """Schedule daily backups of a database."""
        target = resolve_app(app)
        client = Client()
        db = database(client, target, database_name)
        with action(f"Scheduling automatic daily backups of {db['name']} at {at}"):
            client.post(
                f"/client/v11/databases/{db['id']}/transfer-schedules", json={"at": at, "app": target}
            )

    @cli.command("pg:backups:schedules")
    @app_option()
    def pg_backups_schedules(app: str | None) -> None:
        """List backup schedules."""
        target = resolve_app(app)
        client = Client()
        db = database(client, target, None)
        schedules = client.get(f"/client/v11/databases/{db['id']}/transfer-schedules")
        if not schedules:
            warn(
                f"No backup schedules found on {APP_GLYPH} {target}\nUse paas pg:backups:schedule to set one up"
            )
            return
        header("Backup Schedules")
        for s in schedules:
            echo(f"{s['name']}: daily at {s['hour']}:00 {s['timezone']}")

    @cli.command("pg:backups:unschedule")
    @click.argument("database_name", metavar="DATABASE", required=False)
    @app_option()
    def pg_backups_unschedule(database_name: str | None, app: str | None) -> None:
        """Stop daily backups."""
        target = resolve_app(app)
        client = Client()
        schedules = client.get(
            f"/client/v11/databases/{database(client, target, None)['id']}/transfer-schedules"
        )
        if database_name is None:
            if not schedules:
                raise CliError(f"No schedules on {APP_GLYPH} {target}")
            if len(schedules) > 1:
                raise CliError(
                    f"Specify schedule on {APP_GLYPH} {target}. Existing schedules: "
                    + ", ".join(s["name"] for s in schedules)
                )
        db = database(client, target, database_name or schedules[0]["database"])
        mine = next((s for s in schedules if s["database"] == db["name"]), None)
        if mine is None:
            raise CliError(f"No daily backups found for {db['name']}")
        with action(f"Unscheduling {mine['name']} daily backups"):
            client.delete(f"/client/v11/databases/{db['id']}/transfer-schedules/{mine['uuid']}")
