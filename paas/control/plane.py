"""The control plane: apps, their config, formation and domains, read and changed here.

It validates, writes the state database in one transaction, then publishes events and the
`app[api]` log lines Heroku writes. Releases are made by `paas.control.releases.ReleasePath`
alone; the API is a thin HTTP skin over both; the daemon wires the dyno manager and the router
to the events they publish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from common.config import Settings
from common.errors import PaasError, invalid, not_found
from common.events import EventBus
from common.loghub import LogHub
from dynos.sizes import SIZES, display_size, get_size
from dynos.types import AppDesired, ProcessDesired
from paas.control.events import AppCreated, AppDestroyed, AppUpdated, FormationChanged, publish
from paas.control.naming import USER, random_app_name, routable_domain, validate_app_name, validate_domain
from paas.control.releases import initial_releases
from paas.control.store import Store
from paas.control.values import (
    AppInfo,
    DomainInfo,
    FormationChange,
    FormationInfo,
    ReleaseInfo,
    RouteInfo,
    SlugInfo,
    enabled_features,
)
from paas.state.db import Database
from paas.state.models import App, Domain, Formation, Release, Slug

MAX_QUANTITY = 100


@dataclass
class Urls:
    api: str = "http://127.0.0.1:5100"
    router_port: int = 5000

    def web_url(self, app: str) -> str:
        return f"http://{app}.localhost:{self.router_port}/"

    def git_url(self, app: str) -> str:
        return f"{self.api}/git/{app}.git"


class ControlPlane:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, logs: LogHub):
        self.settings = settings
        self.store = Store(db)
        self.bus = bus
        self.logs = logs
        self.urls = Urls()

    # ---- apps ----------------------------------------------------------------------------
    def app_names(self) -> list[str]:
        return self.store.app_names()

    def list_apps(self) -> list[AppInfo]:
        with self.store.session() as s:
            return [AppInfo.of(a) for a in s.scalars(select(App).order_by(App.name))]

    def get_app(self, ident: str) -> AppInfo:
        return self.store.app_info(ident)

    def create_app(self, name: str | None = None, stack: str | None = None) -> AppInfo:
        if name is None:
            name = random_app_name()
        validate_app_name(name)
        with self.store.session() as s:
            if s.scalar(select(App.id).where(App.name == name)) is not None:
                raise invalid("Name is already taken")
            app = App(name=name, config={}, features={}, stack=stack or "heroku-24")
            s.add(app)
            s.flush()
            initial_releases(s, app)
            s.flush()
            info = AppInfo.of(app)
        self.logs.api_line(name, f"Release v1 created by user {USER}")
        self.logs.api_line(name, f"Enable Logplex by user {USER}")
        self.logs.api_line(name, f"Release v2 created by user {USER}")
        publish(self.bus, AppCreated(name))
        return info

    def update_app(self, ident: str, maintenance: bool | None = None, name: str | None = None) -> AppInfo:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            old = app.name
            if name is not None and name != app.name:
                validate_app_name(name)
                if s.scalar(select(App.id).where(App.name == name)) is not None:
                    raise invalid("Name is already taken")
                app.name = name
            if maintenance is not None:
                app.maintenance = maintenance
            s.flush()
            info = AppInfo.of(app)
        if maintenance is not None:
            word = "Enable" if maintenance else "Disable"
            self.logs.api_line(info.name, f"{word} maintenance mode by user {USER}")
        if info.name != old:
            publish(self.bus, AppDestroyed(old))
            publish(self.bus, AppCreated(info.name))
        else:
            publish(self.bus, AppUpdated(info.name, maintenance=info.maintenance))
        return info

    def set_feature(self, ident: str, feature: str, enabled: bool) -> AppInfo:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            app.features = {**(app.features or {}), feature: enabled}
            s.flush()
            info = AppInfo.of(app)
        publish(self.bus, AppUpdated(info.name, features=list(info.features)))
        return info

    # ---- config vars and releases (made by the release path) -----------------------------
    def get_config(self, ident: str) -> dict[str, str]:
        return self.store.config(ident)

    def list_releases(self, ident: str) -> list[ReleaseInfo]:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            current = self.store.current_release(s, app)
            rows = s.scalars(select(Release).where(Release.app_id == app.id).order_by(Release.version))
            return [
                ReleaseInfo.of(r, app.name, current=current is not None and r.id == current.id) for r in rows
            ]

    def get_release(self, ident: str, ref: str | int) -> ReleaseInfo:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            release = self.store.release(s, app, ref)
            current = self.store.current_release(s, app)
            return ReleaseInfo.of(release, app.name, current=current is not None and current.id == release.id)

    def release_config(self, ident: str, ref: str | int) -> dict[str, str]:
        return dict(self.get_release(ident, ref).config)

    # ---- slugs ---------------------------------------------------------------------------
    def create_slug(
        self,
        ident: str,
        path: Path,
        process_types: Mapping[str, str],
        commit: str | None = None,
        size: int = 0,
        buildpack: str | None = None,
        docker_image: str | None = None,
    ) -> SlugInfo:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            slug = Slug(
                app_id=app.id,
                path=str(path),
                process_types=dict(process_types),
                commit=commit,
                size=size,
                stack=app.stack,
                buildpack=buildpack,
                docker_image=docker_image,
            )
            s.add(slug)
            s.flush()
            return SlugInfo.of(slug)

    def get_slug(self, ident: str, slug_id: str) -> SlugInfo:
        return self.store.slug_info(ident, slug_id)

    def current_slug(self, ident: str) -> SlugInfo | None:
        """The slug of the live release (None before the first deploy)."""
        with self.store.session() as s:
            app = self.store.app(s, ident)
            release = self.store.current_release(s, app)
            if release is None or release.slug_id is None:
                return None
            return SlugInfo.of(self.store.slug(s, app, release.slug_id))

    # ---- formation -----------------------------------------------------------------------
    def list_formation(self, ident: str) -> list[FormationInfo]:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            rows = s.scalars(select(Formation).where(Formation.app_id == app.id).order_by(Formation.type))
            return [FormationInfo.of(f, app.name) for f in rows]

    def scale(self, ident: str, changes: Sequence[FormationChange], user: str = USER) -> list[FormationInfo]:
        """Every change is validated before any is applied. `user`: who the log line names
        (autoscaling scales through here too)."""
        if not changes:
            raise invalid("Provide at least one process type to scale.")
        with self.store.session() as s:
            app = self.store.app(s, ident)
            rows = {f.type: f for f in s.scalars(select(Formation).where(Formation.app_id == app.id))}
            planned = [(_formation_row(rows, c), _quantity(c), _size(c)) for c in changes]
            for row, quantity, size in planned:
                if quantity is not None:
                    row.quantity = quantity
                if size is not None:
                    row.size = size
            s.flush()
            out = [FormationInfo.of(row, app.name) for row, _, _ in planned]
        summary = ", ".join(f"{f.type}@{f.quantity}:{display_size(f.size)}" for f in out)
        self.logs.api_line(out[0].app, f"Scaled to {summary} by user {user}")
        for f in out:
            publish(self.bus, FormationChanged(f.app, f.type, f.quantity, f.size))
        return out

    # ---- domains -------------------------------------------------------------------------
    def list_domains(self, ident: str) -> list[DomainInfo]:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            rows = s.scalars(select(Domain).where(Domain.app_id == app.id).order_by(Domain.hostname))
            return [DomainInfo(f"{app.name}.localhost", "heroku")] + [DomainInfo.of(d) for d in rows]

    def add_domain(self, ident: str, hostname: str) -> DomainInfo:
        hostname = validate_domain(hostname)
        with self.store.session() as s:
            app = self.store.app(s, ident)
            taken = s.scalar(select(Domain.id).where(Domain.hostname == hostname))
            if taken or hostname.endswith(".localhost"):
                raise invalid(f"Domain {hostname} is already in use.")
            domain = Domain(app_id=app.id, hostname=hostname)
            s.add(domain)
            s.flush()
            info = DomainInfo.of(domain)
            name = app.name
        publish(self.bus, AppUpdated(name, domains=True))
        return info

    def remove_domain(self, ident: str, hostname: str) -> str:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            domain = s.scalar(
                select(Domain).where(Domain.app_id == app.id, Domain.hostname == hostname.lower())
            )
            if domain is None:
                raise not_found("domain")
            s.delete(domain)
            name = app.name
        publish(self.bus, AppUpdated(name, domains=True))
        return hostname

    # ---- desired state for the dyno manager and router ----------------------------------
    def desired(self, ident: str) -> AppDesired:
        with self.store.session() as s:
            app = self.store.app(s, ident)
            release = self.store.current_release(s, app)
            slug = s.get(Slug, release.slug_id) if release and release.slug_id else None
            formation = s.scalars(select(Formation).where(Formation.app_id == app.id))
            procs = tuple(
                ProcessDesired(f.type, f.command, f.quantity, f.size)
                for f in sorted(formation, key=lambda f: f.type)
            )
            return AppDesired(
                app=app.name,
                release=release.version if release and slug else 0,
                slug_dir=Path(slug.path) if slug else None,
                config=dict(release.config or {}) if release else {},
                processes=procs if slug and not app.destroying else (),  # a destroyed app runs nothing
                docker_image=slug.docker_image if slug else None,
                features=frozenset(enabled_features(app.features)),
            )

    def route_info(self) -> list[RouteInfo]:
        """What the router needs per app: maintenance, whether anything was deployed, domains."""
        with self.store.session() as s:
            domains: dict[str, list[str]] = {}
            for hostname, app_id in s.execute(select(Domain.hostname, Domain.app_id)):
                if routable_domain(hostname):
                    domains.setdefault(app_id, []).append(hostname)
            web = dict(
                s.execute(select(Formation.app_id, Formation.quantity).where(Formation.type == "web")).all()
            )
            out = []
            for app in s.scalars(select(App)):
                release = self.store.current_release(s, app)
                out.append(
                    RouteInfo(
                        name=app.name,
                        web_quantity=web.get(app.id, 0),
                        maintenance=app.maintenance,
                        released=bool(release and release.slug_id),
                        domains=tuple(domains.get(app.id, ())),
                        features=frozenset(enabled_features(app.features)),
                    )
                )
            return out


def _formation_row(rows: Mapping[str, Formation], change: FormationChange) -> Formation:
    row = rows.get(change.type)
    if row is None:
        if not rows:
            raise invalid("No process types: deploy your app first.")
        raise PaasError(
            404,
            "not_found",
            f"Couldn't find that process type ({change.type}). Known types: {', '.join(sorted(rows))}.",
        )
    return row


def _quantity(change: FormationChange) -> int | None:
    quantity = change.quantity
    if quantity is None:
        return None
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise invalid(f"Quantity for {change.type} must be a whole number of 0 or more.")
    if quantity > MAX_QUANTITY:
        raise invalid(f"Cannot scale {change.type} beyond {MAX_QUANTITY} dynos.")
    return quantity


def _size(change: FormationChange) -> str | None:
    if change.size is None:
        return None
    try:
        return get_size(str(change.size)).name
    except ValueError:
        raise invalid(f"Unknown dyno size {change.size!r}; choose one of: {', '.join(SIZES)}") from None
