"""PGBackups: capture (pg_dump -Fc) and restore (pg_restore) as transfers, files under PAAS_HOME.

A capture writes `<id>.dump.partial` and renames it only once pg_dump succeeded and the bytes
are on disk, so a file without `.partial` is always a whole archive. The row goes
pending → running → succeeded | failed; a daemon killed part way leaves `running` rows, which
the next start marks failed ("interrupted") while deleting their partial files. At most
`pg_backup_concurrency` pg_dump/pg_restore processes run at once; one transfer at a time per
database; finished backups beyond the plan's retention are deleted with their files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from common.config import Settings
from common.errors import PaasError, conflict, invalid, not_found
from paas.addons.pgbackups import dumps_runner
from paas.addons.pgbackups.links import Links
from paas.addons.pgbackups.models import PgTransfer, PgTransferCounter
from paas.addons.pgbackups.retention import Kept, expired, retention_of
from paas.addons.pgbackups.transfers import Live, log_time, parse_name, transfer_json, transfer_name
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import AddonDatabase
from paas.postgres.dumps import TransferFailed, TransferStopped
from paas.state.db import Database
from paas.state.models import Addon, App

log = logging.getLogger("paas.pgbackups")

SERVICE = "heroku-postgresql"
ACTIVE = ("pending", "running")
MAX_QUEUED = 20  # transfers waiting for a slot, all apps together; more are refused (429)
KEEP_OTHERS = 20  # per app: restores and failed backups kept for `pg:backups` (retention keeps the rest)


@dataclass(frozen=True)
class Target:
    """A Postgres add-on as a backup source or restore target."""

    addon: str
    app: str
    app_id: str
    attachment: str
    plan: str
    data: dict[str, Any]

    @property
    def database(self) -> AddonDatabase:
        return AddonDatabase.from_provider_data(self.data)


class BackupService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        cluster: PostgresCluster,
        links: Links,
        report_error: Callable[[BaseException], None],
    ):
        self.settings = settings
        self.db = db
        self.cluster = cluster
        self.links = links
        self.report_error = report_error
        self.dir = settings.pg_backups_dir
        self.runner = dumps_runner.Runner(cluster)
        self._slots = asyncio.Semaphore(settings.pg_backup_concurrency)
        self._live: dict[str, Live] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> int:
        """Before the API serves: what a killed daemon left running is marked failed."""
        self.dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        return self.resolve_interrupted()

    async def stop(self) -> None:
        self._stop.set()
        for live in list(self._live.values()):
            live.stop()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def resolve_interrupted(self) -> int:
        with self.db.session() as s:
            rows = list(s.scalars(select(PgTransfer).where(PgTransfer.status.in_(ACTIVE))))
            for t in rows:
                what = "backup" if t.kind == "backup" else "restore"
                self._finish_row(t, "failed", f"interrupted: the paas daemon stopped during the {what}")
                if t.kind == "backup":  # renamed but not yet marked done: not a backup either
                    (self.dir / t.app_id / f"{t.id}.dump").unlink(missing_ok=True)
                    t.path = None
        for partial in self.dir.glob("*/*.partial"):
            partial.unlink(missing_ok=True)
        self.remove_orphans()
        return len(rows)

    def remove_orphans(self) -> None:
        """Backups of apps that are gone (destroyed) go with them."""
        with self.db.session() as s:
            apps = set(s.scalars(select(App.id)))
        for folder in self.dir.iterdir() if self.dir.exists() else ():
            if folder.is_dir() and folder.name not in apps:
                shutil.rmtree(folder, ignore_errors=True)

    # ---- lookups --------------------------------------------------------------------------
    def target(self, ident: str, app: str | None = None) -> Target:
        """A Postgres add-on by id or name (names are unique), or by attachment within `app`."""
        ident = ident[:-4] if ident.upper().endswith("_URL") else ident
        with self.db.session() as s:
            query = select(Addon, App).join(App, App.id == Addon.app_id)
            clause = (Addon.name == ident) | (Addon.id == ident)
            if app is not None:
                clause = clause | ((App.name == app) & (Addon.attachment == ident.upper()))
            found = s.execute(query.where(clause, Addon.service == SERVICE)).first()
            if found is None or found[0].state != "provisioned":
                raise not_found("Postgres database")
            addon, app_row = found
            return Target(
                addon.name, app_row.name, app_row.id, addon.attachment, addon.plan, dict(addon.provider_data)
            )

    def _app_id(self, app: str) -> str:
        with self.db.session() as s:
            found = s.scalar(select(App.id).where(App.name == app))
        if found is None:
            raise not_found("app")
        return found

    def _transfer(self, app: str, num: int) -> tuple[PgTransfer, str]:
        app_id = self._app_id(app)
        with self.db.session() as s:
            row = s.scalar(select(PgTransfer).where(PgTransfer.app_id == app_id, PgTransfer.num == num))
        if row is None:
            raise not_found("backup")
        return row, app_id

    def to_url(self, t: PgTransfer) -> str:
        return f"{self.links.api_url}/pgbackups/{t.id}.dump"

    def as_json(self, t: PgTransfer, app: str, verbose: bool = False) -> dict[str, Any]:
        return transfer_json(t, app, self.to_url(t), self._live.get(t.id), verbose)

    # ---- reading --------------------------------------------------------------------------
    def transfers(self, app: str) -> list[dict[str, Any]]:
        app_id = self._app_id(app)
        with self.db.session() as s:
            rows = list(
                s.scalars(select(PgTransfer).where(PgTransfer.app_id == app_id).order_by(PgTransfer.num))
            )
        return [self.as_json(t, app) for t in rows]

    def get(self, app: str, num: int, verbose: bool) -> dict[str, Any]:
        row, _ = self._transfer(app, num)
        return self.as_json(row, app, verbose)

    def delete(self, app: str, num: int) -> dict[str, Any]:
        row, _ = self._transfer(app, num)
        if row.status in ACTIVE:
            raise conflict(f"{transfer_name(row)} is still running; wait for it to finish.")
        data = self.as_json(row, app)
        self._delete([row.id])
        return data

    def cancel(self, app: str, ident: str) -> dict[str, Any]:
        """pg:backups:cancel: the transfer (by uuid, number or name) stops; its row says canceled."""
        app_id = self._app_id(app)
        plain = ident.isascii() and ident.isdigit() and len(ident) < 10
        num = int(ident) if plain else parse_name(ident)
        with self.db.session() as s:
            clause = PgTransfer.id == ident if num is None else PgTransfer.num == num
            row = s.scalar(select(PgTransfer).where(PgTransfer.app_id == app_id, clause))
        if row is None:
            raise not_found("backup")
        live = self._live.get(row.id)
        if row.status not in ACTIVE or live is None:
            raise invalid(f"{transfer_name(row)} is not running.")
        live.stop()
        return self.as_json(row, app)

    def _delete(self, ids: list[str]) -> None:
        with self.db.session() as s:
            for row in s.scalars(select(PgTransfer).where(PgTransfer.id.in_(ids))):
                if row.path:
                    Path(row.path).unlink(missing_ok=True)
                s.delete(row)

    # ---- links ------------------------------------------------------------------------------
    def public_url(self, app: str, num: int) -> dict[str, Any]:
        row, _ = self._transfer(app, num)
        if row.kind != "backup" or row.status != "succeeded" or not row.path:
            raise invalid(f"{transfer_name(row)} is not a completed backup.")
        url, expires = self.links.make(row.id)
        return {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()}

    def archive(self, transfer_id: str) -> PgTransfer:
        """The succeeded backup with this id, whose file is there (404 otherwise)."""
        with self.db.session() as s:
            row = s.get(PgTransfer, transfer_id)
        if row is None or row.kind != "backup" or row.status != "succeeded" or not row.path:
            raise not_found("backup")
        if not Path(row.path).is_file():
            raise PaasError(410, "gone", f"The file of backup {transfer_name(row)} is missing.")
        return row

    # ---- capture ------------------------------------------------------------------------------
    async def capture(self, ident: str, app: str | None = None, scheduled: bool = False) -> dict[str, Any]:
        target = self.target(ident, app)
        row = self._new(target, "backup", scheduled, target.attachment, "BACKUP", None)
        self._launch(row, self._capture(row.id, target))
        return self.as_json(row, target.app)

    def _new(
        self, target: Target, kind: str, scheduled: bool, from_name: str, to_name: str, source: str | None
    ) -> PgTransfer:
        """The transfer's row, numbered after the app's last one; one active per database."""
        with self.db.session() as s:
            busy = s.scalar(
                select(PgTransfer).where(PgTransfer.addon_name == target.addon, PgTransfer.status.in_(ACTIVE))
            )
            if busy is not None:
                raise conflict(
                    f"{transfer_name(busy)} on {target.addon} is still running; wait for it to finish."
                )
            queued = s.scalar(select(PgTransfer.id).where(PgTransfer.status == "pending").offset(MAX_QUEUED))
            if queued is not None:
                raise PaasError(
                    429, "rate_limit", f"{MAX_QUEUED} transfers are already waiting; try again later."
                )
            counter = s.get(PgTransferCounter, target.app_id)
            if counter is None:
                counter = PgTransferCounter(app_id=target.app_id, last_num=0)
                s.add(counter)
            counter.last_num += 1
            row = PgTransfer(
                app_id=target.app_id, num=counter.last_num, kind=kind, scheduled=scheduled,
                addon_name=target.addon, from_name=from_name, to_name=to_name, source_id=source,
                status="pending", logs=[], source_bytes=0, processed_bytes=0, warnings=0,
                created_at=datetime.now(UTC),
            )  # fmt: skip
            s.add(row)
            s.flush()
            s.expunge(row)
        return row

    def _launch(self, row: PgTransfer, work: Any) -> None:
        self._live[row.id] = Live()
        task = asyncio.create_task(work)
        self._tasks[row.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(row.id, None))

    async def _capture(self, transfer_id: str, target: Target) -> None:
        live = self._live[transfer_id]
        folder = self.dir / target.app_id
        partial = folder / f"{transfer_id}.dump.partial"
        async with self._transfer_slot(transfer_id, "backup") as name:
            live.log(f"Backing up {target.attachment} to {name}")
            folder.mkdir(mode=0o700, exist_ok=True)
            tools = await self.runner.tools()
            size = await self.runner.database_size(target.database.database)
            self._update(transfer_id, source_bytes=size)
            written = await asyncio.to_thread(self.runner.dump, tools, target.database, partial, live)
            final = folder / f"{transfer_id}.dump"
            os.replace(partial, final)
            live.log(f"pg_dump finished successfully: {written} bytes")
            self._update(transfer_id, path=str(final))
        partial.unlink(missing_ok=True)
        self.expire(target)

    @contextlib.asynccontextmanager
    async def _transfer_slot(self, transfer_id: str, kind: str) -> Any:
        """Waits for a slot, marks the row running, and records how it ended."""
        try:
            async with self._slots:
                name = self._started(transfer_id)
                yield name
            self._end(transfer_id, "succeeded", None)
        except TransferStopped:
            if self._stop.is_set():
                self._end(transfer_id, "failed", f"the paas daemon stopped during the {kind}")
            else:
                self._end(transfer_id, "failed", "canceled", canceled=True)
        except (TransferFailed, PaasError, psycopg.Error) as exc:  # the server or the disk said no
            reason = exc.message if isinstance(exc, PaasError) else str(exc).strip()
            self._end(transfer_id, "failed", reason)  # the reason ends the logs
        except Exception as exc:
            self.report_error(exc)
            self._end(transfer_id, "failed", f"internal error: {exc.__class__.__name__}: {exc}")

    def _started(self, transfer_id: str) -> str:
        with self.db.session() as s:
            row = s.get(PgTransfer, transfer_id)
            if row is None:  # its app was destroyed while it waited
                raise TransferFailed("the app was destroyed")
            if self._live[transfer_id].stopped:  # canceled while it waited
                raise TransferStopped("stopped")
            row.status = "running"
            row.started_at = datetime.now(UTC)
            return transfer_name(row)

    def _update(self, transfer_id: str, **values: Any) -> None:
        with self.db.session() as s:
            row = s.get(PgTransfer, transfer_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def _end(self, transfer_id: str, status: str, error: str | None, canceled: bool = False) -> None:
        live = self._live.pop(transfer_id, Live())
        with self.db.session() as s:
            row = s.get(PgTransfer, transfer_id)
            if row is None:  # deleted meanwhile
                return
            if canceled:
                row.canceled_at = datetime.now(UTC)
            row.processed_bytes = live.processed
            row.logs = list(live.logs)
            self._finish_row(row, status, error)
            app_id = row.app_id
        self.trim(app_id)

    def trim(self, app_id: str) -> None:
        """Restores and failed backups beyond the newest KEEP_OTHERS of the app go (bounded)."""
        with self.db.session() as s:
            others = s.scalars(
                select(PgTransfer.id)
                .where(
                    PgTransfer.app_id == app_id,
                    PgTransfer.status.not_in(ACTIVE),
                    (PgTransfer.kind == "restore") | (PgTransfer.status == "failed"),
                )
                .order_by(PgTransfer.num.desc())
                .offset(KEEP_OTHERS)
            )
            old = list(others)
        if old:
            self._delete(old)

    @staticmethod
    def _finish_row(row: PgTransfer, status: str, error: str | None) -> None:
        row.status = status
        row.error = error
        row.finished_at = datetime.now(UTC)
        if error is not None:
            row.logs = [*(row.logs or []), {"created_at": log_time(), "message": error}]

    def expire(self, target: Target) -> list[str]:
        """Finished backups of this database beyond its plan's retention go, files and all."""
        with self.db.session() as s:
            rows = s.scalars(
                select(PgTransfer).where(
                    PgTransfer.addon_name == target.addon,
                    PgTransfer.kind == "backup",
                    PgTransfer.status == "succeeded",
                )
            )
            kept = [Kept(t.id, t.created_at, t.scheduled) for t in rows]
        gone = expired(kept, retention_of(target.plan), self.settings.pg_backup_day)
        if gone:
            self._delete(gone)
        return gone

    # ---- restore ------------------------------------------------------------------------------
    async def restore(
        self, ident: str, app: str | None, backup: str | None, backup_url: str | None
    ) -> dict[str, Any]:
        target = self.target(ident, app)
        source, source_app = self._source(target.app, backup, backup_url)
        name = transfer_name(source)
        label = name if source_app == target.app else f"{source_app}::{name}"
        row = self._new(target, "restore", False, label, target.attachment, source.id)
        self._launch(row, self._restore(row.id, target, source))
        return self.as_json(row, target.app)

    def _source(self, app: str, backup: str | None, backup_url: str | None) -> tuple[PgTransfer, str]:
        """The backup to restore: a URL this daemon made, `app::b001`, `b001`, or the latest."""
        if backup_url:
            return self._source_from_url(backup_url)
        source_app, _, name = (backup or "").rpartition("::")
        source_app = source_app or app
        if not name:
            return self._latest(source_app), source_app
        num = parse_name(name)
        if num is None:
            raise invalid(f"Invalid Backup: {name} (backups are named like b001 or a001)")
        try:
            row, _ = self._transfer(source_app, num)
        except PaasError:
            raise not_found(f"backup {name} for {source_app}") from None
        if row.kind != "backup":
            raise invalid(f"{name} of {source_app} is a restore, not a backup.")
        if row.status != "succeeded":
            raise invalid(f"Backup {name} for {source_app} did not complete successfully")
        return row, source_app

    def _source_from_url(self, url: str) -> tuple[PgTransfer, str]:
        parts = self.links.parse(url)
        if parts is None:
            raise invalid(
                "paas restores only backups it holds: pass a backup name (b001, app::b001) "
                "or a URL from `paas pg:backups:url`."
            )
        transfer_id, expires, signature = parts
        if signature and not self.links.valid(transfer_id, expires, signature):
            raise PaasError(403, "forbidden", "This backup URL has expired or its signature is wrong.")
        row = self.archive(transfer_id)
        with self.db.session() as s:
            app = s.get(App, row.app_id)
        return row, app.name if app is not None else "?"

    def _latest(self, app: str) -> PgTransfer:
        app_id = self._app_id(app)
        with self.db.session() as s:
            row = s.scalar(
                select(PgTransfer)
                .where(
                    PgTransfer.app_id == app_id, PgTransfer.kind == "backup", PgTransfer.status == "succeeded"
                )
                .order_by(PgTransfer.finished_at.desc(), PgTransfer.num.desc())
            )
        if row is None:
            raise not_found(f"backup for {app}. Capture one with paas pg:backups:capture")
        return row

    async def _restore(self, transfer_id: str, target: Target, source: PgTransfer) -> None:
        live = self._live[transfer_id]
        async with self._transfer_slot(transfer_id, "restore") as name:
            live.log(f"Restoring {transfer_name(source)} to {target.attachment} ({name})")
            archive = Path(source.path or "")
            if not archive.is_file():
                raise TransferFailed(f"the file of backup {transfer_name(source)} is missing")
            live.processed = archive.stat().st_size
            self._update(transfer_id, source_bytes=live.processed)
            tools = await self.runner.tools()
            result = await asyncio.to_thread(self.runner.restore, tools, target.database, archive, live)
            self._update(transfer_id, warnings=result.warnings)
            live.log(
                "pg_restore finished" + (f" with {result.warnings} errors ignored" if result.warnings else "")
            )
