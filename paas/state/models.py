"""SQLAlchemy 2 models of the control plane's state.

Other parts (dataclips, kafka, ...) declare their tables on the same `Base` in their own
modules and add an Alembic migration branch of their own (down_revision = "0001_initial").
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class App(Base):
    __tablename__ = "apps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(30), unique=True, index=True)
    region: Mapped[str] = mapped_column(String(20), default="local")
    stack: Mapped[str] = mapped_column(String(40), default="heroku-24")
    maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
    destroying: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    releases: Mapped[list[Release]] = relationship(back_populates="app", cascade="all, delete-orphan")
    formation: Mapped[list[Formation]] = relationship(back_populates="app", cascade="all, delete-orphan")


class Slug(Base):
    __tablename__ = "slugs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)  # directory holding the unpacked slug
    process_types: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    stack: Mapped[str] = mapped_column(String(40), default="heroku-24")
    buildpack: Mapped[str | None] = mapped_column(String(60), nullable=True)
    docker_image: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    slug_id: Mapped[str | None] = mapped_column(ForeignKey("slugs.id"), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="succeeded")  # pending/succeeded/failed
    user: Mapped[str] = mapped_column(String(100), default="local@paas")
    addon_plan_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    output: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    app: Mapped[App] = relationship(back_populates="releases")
    slug: Mapped[Slug | None] = relationship()


class Formation(Base):
    __tablename__ = "formation"
    __table_args__ = (UniqueConstraint("app_id", "type"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(60))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[str] = mapped_column(String(30), default="standard-1x")
    command: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    app: Mapped[App] = relationship(back_populates="formation")


class Build(Base):
    __tablename__ = "builds"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    source: Mapped[str] = mapped_column(String(20), default="directory")  # directory | git | image
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slug_id: Mapped[str | None] = mapped_column(ForeignKey("slugs.id"), nullable=True)
    release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    buildpack: Mapped[str | None] = mapped_column(String(60), nullable=True)
    output: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Addon(Base):
    __tablename__ = "addons"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    service: Mapped[str] = mapped_column(String(60))  # heroku-postgresql | heroku-kafka
    plan: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), default="provisioning")
    attachment: Mapped[str] = mapped_column(String(60), default="DATABASE")  # config var prefix
    config_vars: Mapped[list[Any]] = mapped_column(JSON, default=list)
    provider_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Pipeline(Base):
    __tablename__ = "pipelines"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PipelineCoupling(Base):
    __tablename__ = "pipeline_couplings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    stage: Mapped[str] = mapped_column(String(20))


class ReviewAppConfig(Base):
    """A pipeline's review apps are enabled while this row exists (Heroku's review-app-config)."""

    __tablename__ = "review_app_configs"
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True)
    automatic_review_apps: Mapped[bool] = mapped_column(Boolean, default=False)
    destroy_stale_apps: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ReviewApp(Base):
    """One branch's review app. The app is named, not referenced: its row outlives a crash
    between the two (the next start resolves a `creating` or `deleting` one)."""

    __tablename__ = "review_apps"
    __table_args__ = (UniqueConstraint("pipeline_id", "branch"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    app_name: Mapped[str] = mapped_column(String(30), unique=True)
    branch: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))  # creating | created | errored | deleting
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    predestroy: Mapped[str | None] = mapped_column(Text, nullable=True)  # app.json scripts.pr-predestroy
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
