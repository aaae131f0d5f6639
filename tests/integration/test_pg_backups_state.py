"""pg:backups' rows in the state database (migrated SQLite): what is kept is bounded, and what a
killed daemon left running is marked failed with its partial files gone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from paas.addons.pgbackups.links import Links
from paas.addons.pgbackups.models import PgTransfer
from paas.addons.pgbackups.service import KEEP_OTHERS, BackupService
from paas.postgres.cluster import PostgresCluster
from paas.state.db import Database
from paas.state.models import App
from tests.support.daemon import test_settings as daemon_settings


def service(tmp_path: Path) -> tuple[BackupService, str]:
    settings = daemon_settings(tmp_path)
    db = Database(settings.state_url)
    db.migrate()
    with db.session() as s:
        app = App(name="shop")
        s.add(app)
        s.flush()
        app_id = app.id
    errors: list[BaseException] = []
    svc = BackupService(
        settings, db, PostgresCluster(settings), Links("t", "http://127.0.0.1:1", 60), errors.append
    )
    return svc, app_id


def add(svc: BackupService, app_id: str, num: int, kind: str, status: str, path: str | None = None) -> str:
    with svc.db.session() as s:
        row = PgTransfer(
            app_id=app_id, num=num, kind=kind, scheduled=False, addon_name="pg-1", from_name="DATABASE",
            to_name="BACKUP", status=status, logs=[], source_bytes=0, processed_bytes=0, warnings=0,
            path=path, created_at=datetime.now(UTC),
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def test_restores_and_failed_backups_are_bounded_per_app(tmp_path: Path) -> None:
    svc, app_id = service(tmp_path)
    for num in range(1, 31):
        add(svc, app_id, num, "restore", "succeeded")
    add(svc, app_id, 31, "backup", "failed")
    add(svc, app_id, 32, "backup", "succeeded")
    add(svc, app_id, 33, "backup", "succeeded")
    svc.trim(app_id)
    names = [t["name"] for t in svc.transfers("shop")]
    assert "b032" in names and "b033" in names  # succeeded backups follow the plan's retention only
    others = [n for n in names if n not in ("b032", "b033")]
    assert len(others) == KEEP_OTHERS and others[-1] == "b031" and "r001" not in others


def test_a_start_marks_what_a_killed_daemon_left_running(tmp_path: Path) -> None:
    svc, app_id = service(tmp_path)
    folder = svc.dir / app_id
    folder.mkdir(parents=True)
    partial = folder / "x.dump.partial"
    partial.write_bytes(b"PGDMP half")
    running = add(svc, app_id, 1, "backup", "running")
    renamed = folder / f"{running}.dump"  # renamed, but the daemon died before marking it done
    renamed.write_bytes(b"PGDMP whole")
    add(svc, app_id, 2, "restore", "pending")
    assert svc.start() == 2
    b001, r002 = svc.transfers("shop")
    assert (b001["status"], b001["error"]) == (
        "failed",
        "interrupted: the paas daemon stopped during the backup",
    )
    assert (r002["status"], r002["error"]) == (
        "failed",
        "interrupted: the paas daemon stopped during the restore",
    )
    assert b001["finished_at"] and not b001["succeeded"]
    assert not partial.exists() and not renamed.exists()
