"""Dataclip metadata in the state database: clips, their saved versions, share slugs.

A clip's SQL and target live on the clip row (the current version); every save appends a
`DataclipVersion`, and a revert appends a copy of an older one, so history only grows.
The secret share slug is 28 lowercase letters; revoking replaces it. The chart settings live on
the clip (not versioned, like Heroku's); the latest result is kept in `dataclip_results`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paas.state.models import Base, utcnow


class Dataclip(Base):
    __tablename__ = "dataclips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(100))  # a Postgres add-on's name, or "platform"
    sql: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)  # number of the current version
    slug: Mapped[str] = mapped_column(String(28), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # the chart picked in the page, as JSON ({"kind": "auto|line|bar|none", "x": ..., "y": [...]})
    chart: Mapped[str] = mapped_column(Text, default="{}")
    forked_from: Mapped[int | None] = mapped_column(
        ForeignKey("dataclips.id", ondelete="SET NULL"), nullable=True, default=None
    )


class DataclipResult(Base):
    """The latest result of a clip, kept so opening it shows the rows at once (as Heroku does)."""

    __tablename__ = "dataclip_results"
    clip_id: Mapped[int] = mapped_column(ForeignKey("dataclips.id", ondelete="CASCADE"), primary_key=True)
    ran_at: Mapped[float] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)  # paas.dataclips.kept: columns, first rows, caps


class DataclipVersion(Base):
    __tablename__ = "dataclip_versions"
    __table_args__ = (UniqueConstraint("clip_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("dataclips.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(100))
    sql: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(100), default="saved")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
