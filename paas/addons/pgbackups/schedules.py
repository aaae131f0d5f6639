"""Daily scheduled backups (`pg:backups:schedule --at '02:00 UTC'`): one schedule per database.

One task sleeps until the earliest next run of any schedule (woken early when schedules
change), then captures a scheduled backup (`a001`). The day's length is a setting
(`PAAS_PG_BACKUP_DAY`), so a class can watch a "daily" backup every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from common.errors import PaasError, not_found
from paas.addons.pgbackups.clock import next_run, parse_at
from paas.addons.pgbackups.models import PgBackupSchedule
from paas.addons.pgbackups.service import BackupService, Target
from paas.addons.pgbackups.transfers import iso

log = logging.getLogger("paas.pgbackups")
MIN_SLEEP = 1.0  # never wake more often than once a second


def schedule_json(row: PgBackupSchedule) -> dict[str, Any]:
    return {
        "uuid": row.id,
        "name": row.name,
        "database": row.addon_name,
        "hour": row.hour,
        "timezone": row.timezone,
        "days": ["Every day"],
        "created_at": iso(row.created_at),
    }


class Schedules:
    def __init__(self, backups: BackupService, report_error: Callable[[BaseException], None]):
        self.backups = backups
        self.db = backups.db
        self.day = backups.settings.pg_backup_day
        self.report_error = report_error
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # scheduled captures started by this daemon
        self._next: dict[tuple[str, tuple[int, str]], float] = {}  # (add-on, (hour, zone)) -> next run

    # ---- the API's side -----------------------------------------------------------------------
    def of(self, ident: str, app: str | None = None) -> list[dict[str, Any]]:
        target = self.backups.target(ident, app)
        with self.db.session() as s:
            rows = s.scalars(select(PgBackupSchedule).where(PgBackupSchedule.app_id == target.app_id))
            return [schedule_json(r) for r in rows]

    def add(self, ident: str, at: str, app: str | None = None) -> dict[str, Any]:
        hour, zone = parse_at(at)
        target = self.backups.target(ident, app)
        with self.db.session() as s:
            row = s.scalar(select(PgBackupSchedule).where(PgBackupSchedule.addon_name == target.addon))
            if row is None:
                row = PgBackupSchedule(app_id=target.app_id, addon_name=target.addon)
                s.add(row)
            row.name, row.hour, row.timezone = f"{target.attachment}_URL", hour, zone
            s.flush()
            data = schedule_json(row)
        self._changed.set()
        return data

    def remove(self, ident: str, schedule_id: str, app: str | None = None) -> dict[str, Any]:
        target = self.backups.target(ident, app)
        with self.db.session() as s:
            row = s.get(PgBackupSchedule, schedule_id)
            if row is None or row.addon_name != target.addon:
                raise not_found("backup schedule")
            data = schedule_json(row)
            s.delete(row)
        self._changed.set()
        return data

    # ---- the clock --------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _due(self, now: float) -> tuple[list[str], float]:
        """(add-ons whose run has come, when the soonest next run falls). A schedule seen for
        the first time (new, or this daemon just started) runs at its next time from now:
        runs missed while the daemon was down are not replayed."""
        with self.db.session() as s:
            rows = {r.addon_name: (r.hour, r.timezone) for r in s.scalars(select(PgBackupSchedule))}
        self._next = {k: v for k, v in self._next.items() if rows.get(k[0]) == k[1]}
        due, soonest = [], now + 3600.0
        for addon, when in rows.items():
            key = (addon, when)
            at = self._next.setdefault(key, next_run(now, *when, self.day))
            if at <= now:
                due.append(addon)
                at = self._next[key] = next_run(now, *when, self.day)
            soonest = min(soonest, at)
        return due, soonest

    async def _loop(self) -> None:
        while True:
            due, soonest = self._due(time.time())
            for addon in due:
                await self._run(addon)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(MIN_SLEEP, soonest - time.time()))

    async def _run(self, addon: str) -> None:
        try:
            target: Target = self.backups.target(addon)
            await self.backups.capture(target.addon, scheduled=True)
            self.runs += 1
        except PaasError as exc:  # the database is busy or gone: this day's run is skipped
            log.warning("scheduled backup of %s skipped: %s", addon, exc.message)
        except Exception as exc:
            self.report_error(exc)
