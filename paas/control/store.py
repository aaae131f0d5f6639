"""The state database as the control plane reads and writes it.

Row lookups take the caller's session, so a caller composes one transaction out of them;
the typed reads open their own and return detached values (`paas.control.values`).
Release rows are written by `paas.control.releases` alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import not_found
from paas.control.values import AppInfo, ReleaseInfo, SlugInfo
from paas.state.db import Database
from paas.state.models import Addon, App, Formation, Release, Slug


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.db.session() as s:
            yield s

    # ---- rows, inside the caller's transaction ----------------------------------------------
    def app(self, s: Session, ident: str) -> App:
        """An app by name or id (404 when there is none)."""
        app = s.scalar(select(App).where((App.name == ident) | (App.id == ident)))
        if app is None:
            raise not_found("app")
        return app

    def current_release(self, s: Session, app: App) -> Release | None:
        """The live release: the newest that succeeded."""
        return s.scalar(
            select(Release)
            .where(Release.app_id == app.id, Release.status == "succeeded")
            .order_by(Release.version.desc())
            .limit(1)
        )

    def release(self, s: Session, app: App, ref: str | int) -> Release:
        """A release by version (`v12`, `12`) or id (404 when there is none)."""
        text = str(ref).lstrip("vV")
        query = select(Release).where(Release.app_id == app.id)
        if text.isdigit():
            release = s.scalar(query.where(Release.version == int(text)))
        else:
            release = s.scalar(query.where(Release.id == str(ref)))
        if release is None:
            raise not_found("release")
        return release

    def slug(self, s: Session, app: App, slug_id: str) -> Slug:
        """One of the app's slugs (404 for another app's)."""
        slug = s.get(Slug, slug_id)
        if slug is None or slug.app_id != app.id:
            raise not_found("slug")
        return slug

    def addon_plan_names(self, s: Session, app: App) -> list[str]:
        """The plans of the app's attached add-ons (not those being made or torn down)."""
        rows = s.scalars(select(Addon).where(Addon.app_id == app.id, Addon.state == "provisioned"))
        return [f"{a.service}:{a.plan}" for a in rows]

    def ensure_formation(self, s: Session, app: App, process_types: Mapping[str, str]) -> None:
        """New process types join the formation: web at 1 on first appearance, others at 0;
        types the slug no longer declares leave it."""
        existing = {f.type: f for f in s.scalars(select(Formation).where(Formation.app_id == app.id))}
        for ptype, command in process_types.items():
            if ptype == "release":
                continue
            if ptype in existing:
                existing[ptype].command = command
            else:
                s.add(
                    Formation(app_id=app.id, type=ptype, quantity=1 if ptype == "web" else 0, command=command)
                )
        for ptype, row in existing.items():
            if ptype not in process_types:
                s.delete(row)

    # ---- typed reads, each its own transaction ------------------------------------------------
    def app_info(self, ident: str) -> AppInfo:
        with self.session() as s:
            return AppInfo.of(self.app(s, ident))

    def app_names(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(App.name).order_by(App.name)))

    def config(self, ident: str) -> dict[str, str]:
        """The live config vars (those of the live release)."""
        with self.session() as s:
            return dict(self.app(s, ident).config or {})

    def current_release_info(self, ident: str) -> ReleaseInfo | None:
        with self.session() as s:
            app = self.app(s, ident)
            release = self.current_release(s, app)
            return ReleaseInfo.of(release, app.name, current=True) if release is not None else None

    def slug_info(self, ident: str, slug_id: str) -> SlugInfo:
        with self.session() as s:
            return SlugInfo.of(self.slug(s, self.app(s, ident), slug_id))
