"""How pg:backups looks in the terminal (Heroku CLI's wording), and waiting on a transfer."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from paas.cli.client import Client, CliError

UNITS = ("B", "KB", "MB", "GB", "TB")


def filesize(n: int | None) -> str:
    """The `bytes` package's format, as Heroku's CLI prints sizes: `6.52KB`, `512.00B`."""
    size = float(n or 0)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{size:.2f}{unit}"
        size /= 1024
    return f"{size:.2f}TB"


def status(t: dict[str, Any]) -> str:
    """The Status column of `pg:backups`."""
    if t["finished_at"] and t["succeeded"]:
        return f"Finished with {t['warnings']} warnings" if t["warnings"] else f"Completed {t['finished_at']}"
    if t["finished_at"]:
        return f"Failed {t['finished_at']}"
    if t["started_at"]:
        return f"Running (processed {filesize(t['processed_bytes'])})"
    return "Pending"


def info_status(t: dict[str, Any]) -> str:
    """The Status line of `pg:backups:info`."""
    if t["succeeded"]:
        return f"Finished with {t['warnings']} warnings" if t["warnings"] else "Completed"
    if t["canceled_at"]:
        return "Canceled"
    if t["finished_at"]:
        return "Failed"
    return "Running" if t["started_at"] else "Pending"


def compression(processed: int, total: int) -> str:
    pct = max(0, round((total - processed) / total * 100)) if processed > 0 and total > 0 else 0
    return f" ({pct}% compression)"


class Waiter:
    """Polls a transfer until it ends, showing bytes on a terminal (or the logs with --verbose)."""

    def __init__(self, client: Client, app: str, interval: float, verbose: bool):
        self.client = client
        self.app = app
        self.interval = max(1.0, interval)  # never poll the daemon faster than once a second
        self.verbose = verbose
        self.shown: set[str] = set()

    def _logs(self, t: dict[str, Any]) -> None:
        for line in t.get("logs") or []:
            key = line["created_at"] + line["message"]
            if key not in self.shown:
                self.shown.add(key)
                click.echo(f"{line['created_at']} {line['message']}")

    def wait(self, text: str, num: int) -> dict[str, Any]:
        """`text... done` when the transfer succeeds; `text... !` and a CliError otherwise."""
        tty = sys.stderr.isatty()
        update: Callable[[str], None] = lambda _s: None  # noqa: E731
        status_line = None
        if tty and not self.verbose:
            from rich.console import Console

            status_line = Console(stderr=True).status(text + "... pending")
            status_line.start()
            update = lambda s: status_line.update(f"{text}... {s}")  # noqa: E731
        elif self.verbose:
            click.echo(f"{text}...")
        try:
            t = self._poll(num, update)
        finally:
            if status_line is not None:
                status_line.stop()
        if t["succeeded"]:
            click.echo(f"{text}... done", err=True)
            return t
        click.echo(f"{text}... !", err=True)
        full = self.client.get(f"/client/v11/apps/{self.app}/transfers/{num}", params={"verbose": "true"})
        last = "\n".join(line["message"] for line in (full.get("logs") or [])[-5:])
        raise CliError(
            f"An error occurred and the {'backup' if full['to_type'] == 'gof3r' else 'restore'} did not finish.\n\n"
            f"{last}\n\nRun paas pg:backups:info {full['name']} for more details."
        )

    def _poll(self, num: int, update: Callable[[str], None]) -> dict[str, Any]:
        path = f"/client/v11/apps/{self.app}/transfers/{num}"
        while True:
            t: dict[str, Any] = self.client.get(path, params={"verbose": "true"} if self.verbose else None)
            if self.verbose:
                self._logs(t)
            else:
                update(filesize(t["processed_bytes"]) if t["started_at"] else "pending")
            if t["finished_at"]:
                return t
            time.sleep(self.interval)
