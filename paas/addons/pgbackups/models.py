"""PGBackups in the state database: transfers (backups and restores), schedules, counters.

A transfer is Heroku's word for one backup (`b001`, or `a001` when a schedule took it) or one
restore (`r002`). Numbers count per app across every kind and are never reused (the counter
row keeps the last one even after deletions), as the CLI's `b001` → transfer 1 mapping needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, new_id, utcnow


class PgTransfer(Base):
    __tablename__ = "pg_transfers"
    __table_args__ = (UniqueConstraint("app_id", "num"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    num: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # backup | restore
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    addon_name: Mapped[str] = mapped_column(String(100))  # the database backed up / restored into
    from_name: Mapped[str] = mapped_column(String(200))  # attachment (backup) or backup name (restore)
    to_name: Mapped[str] = mapped_column(String(200))  # "BACKUP" or the attachment restored into
    source_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # restore: the backup's id
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending running succeeded failed
    source_bytes: Mapped[int] = mapped_column(Integer, default=0)
    processed_bytes: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)  # the archive (backups)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    logs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PgTransferCounter(Base):
    __tablename__ = "pg_transfer_counters"
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    last_num: Mapped[int] = mapped_column(Integer, default=0)


class PgBackupSchedule(Base):
    __tablename__ = "pg_backup_schedules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    addon_name: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))  # "DATABASE_URL", as Heroku names schedules
    hour: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(60), default="UTC")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
