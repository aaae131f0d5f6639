"""Transfers as Heroku's data API shows them, and the names the CLI uses (`b001`, `a002`, `r003`)."""

from __future__ import annotations

import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.crashpoints import crash_point
from paas.addons.pgbackups.models import PgTransfer

NAME = re.compile(r"[abr]([0-9]{1,9})")
MAX_LOG_LINES = 200  # per transfer: pg_dump --verbose says a line per table


def log_time(when: datetime | None = None) -> str:
    """Heroku's backup log timestamp: `2026-12-05 12:00:01 +0000`."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S +0000")


def iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
        when = when.replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S +0000")


def transfer_name(t: PgTransfer) -> str:
    prefix = "r" if t.kind == "restore" else "a" if t.scheduled else "b"
    return f"{prefix}{t.num:03d}"


def parse_name(name: str) -> int | None:
    found = NAME.fullmatch(name.strip().lower())
    return int(found.group(1)) if found else None


@dataclass
class Live:
    """A running transfer's progress, kept in memory and written to its row when it ends; it
    also stops the transfer (`stop`: pg_dump/pg_restore is killed, even while it waits)."""

    processed: int = 0
    logs: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    _stop: threading.Event = field(default_factory=threading.Event)
    _process: subprocess.Popen[bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, message: str) -> None:
        self.logs.append({"created_at": log_time(), "message": message})

    def progress(self, written: int) -> None:
        if self.processed == 0:
            crash_point("pgbackup.mid_capture")
        self.processed = written

    def started(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._process = process
            if self._stop.is_set():
                process.kill()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            if self._process is not None and self._process.poll() is None:
                self._process.kill()


def transfer_json(
    t: PgTransfer, app: str, to_url: str | None, live: Live | None, verbose: bool
) -> dict[str, Any]:
    backup = t.kind == "backup"
    processed = live.processed if live is not None else t.processed_bytes
    data: dict[str, Any] = {
        "uuid": t.id,
        "num": t.num,
        "name": transfer_name(t),
        "app": {"name": app},
        "from_type": "pg_dump" if backup else "gof3r",
        "from_name": t.from_name,
        "to_type": "gof3r" if backup else "pg_restore",
        "to_name": t.to_name,
        "to_url": to_url if backup else None,
        "database": t.addon_name,
        "status": t.status,
        "succeeded": t.status == "succeeded",
        "warnings": t.warnings,
        "source_bytes": t.source_bytes,
        "processed_bytes": processed,
        "error": t.error,
        "schedule": {"name": t.from_name} if t.scheduled else None,
        "options": {},
        "created_at": iso(t.created_at),
        "started_at": iso(t.started_at),
        "finished_at": iso(t.finished_at),
        "updated_at": iso(t.finished_at or t.started_at or t.created_at),
        "canceled_at": iso(t.canceled_at),
    }
    if verbose:
        data["logs"] = list(live.logs) if live is not None else list(t.logs or [])
    return data
