"""The scheduler's table: one row per job, gone with its add-on (and with its app)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, new_id, utcnow


class SchedulerJob(Base):
    __tablename__ = "scheduler_jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"), index=True)
    command: Mapped[str] = mapped_column(Text)
    every: Mapped[int] = mapped_column(Integer)  # minutes: 10, 60 or 1440
    at: Mapped[int] = mapped_column(Integer, default=0)  # minutes past the hour / past 00:00 UTC
    dyno_size: Mapped[str] = mapped_column(String(30), default="standard-1x")
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_dyno: Mapped[str | None] = mapped_column(String(40), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
