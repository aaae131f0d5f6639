"""The control plane: every change to apps, config, releases and formation goes through here.

It validates, writes the state database in one transaction, then publishes events and the
`app[api]` log lines Heroku writes. The API is a thin HTTP skin over this class; the daemon
wires the dyno manager and the router to the events it publishes.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import Settings
from common.errors import PaasError, invalid, not_found
from common.events import EventBus
from common.loghub import LogHub
from dynos.sizes import SIZES, get_size
from dynos.types import AppDesired, ProcessDesired
from paas.state.db import Database
from paas.state.models import Addon, App, Build, Domain, Formation, Release, Slug

APP_NAME = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")  # always fullmatch: whole strings
CONFIG_KEY = re.compile(r"[A-Za-z0-9_]+")
DOMAIN = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)
CONFIG_LIMIT = 32 * 1024
USER = "local@paas"

_ADJECTIVES = [
    "ancient",
    "autumn",
    "billowing",
    "bitter",
    "black",
    "blue",
    "bold",
    "broken",
    "cold",
    "cool",
    "crimson",
    "damp",
    "dark",
    "dawn",
    "delicate",
    "divine",
    "dry",
    "empty",
    "falling",
    "floral",
    "fragrant",
    "frosty",
    "gentle",
    "green",
    "hidden",
    "holy",
    "icy",
    "late",
    "lingering",
    "little",
    "lively",
    "long",
    "misty",
    "morning",
    "muddy",
    "nameless",
    "old",
    "patient",
    "polished",
    "proud",
    "purple",
    "quiet",
    "red",
    "restless",
    "rough",
    "shy",
    "silent",
    "small",
    "snowy",
    "solitary",
    "sparkling",
    "spring",
    "still",
    "summer",
    "sweet",
    "throbbing",
    "tight",
    "tiny",
    "twilight",
    "wandering",
    "weathered",
    "white",
    "wild",
    "winter",
    "wispy",
    "withered",
    "young",
]
_NOUNS = [
    "bird",
    "brook",
    "bush",
    "butterfly",
    "cherry",
    "cloud",
    "darkness",
    "dawn",
    "dew",
    "dream",
    "dust",
    "feather",
    "field",
    "fire",
    "firefly",
    "flower",
    "fog",
    "forest",
    "frog",
    "frost",
    "glade",
    "glitter",
    "grass",
    "haze",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "moon",
    "morning",
    "mountain",
    "night",
    "paper",
    "pine",
    "pond",
    "rain",
    "resonance",
    "river",
    "sea",
    "shadow",
    "shape",
    "silence",
    "sky",
    "smoke",
    "snow",
    "snowflake",
    "sound",
    "star",
    "sun",
    "sunset",
    "surf",
    "thunder",
    "tree",
    "violet",
    "voice",
    "water",
    "waterfall",
    "wave",
    "wildflower",
    "wind",
    "wood",
]


def random_app_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(10000, 99999)}"


def validate_app_name(name: str) -> None:
    if not APP_NAME.fullmatch(name):
        raise invalid(
            "Name must start with a letter, end with a letter or digit and can only contain "
            "lowercase letters, digits, and dashes (3 to 30 characters)."
        )


def validate_config_key(key: str) -> None:
    if not CONFIG_KEY.fullmatch(key):
        raise invalid(f"Invalid config var name {key!r}: only letters, digits and '_' are allowed.")
    if key.startswith("HEROKU_") or key.startswith("__"):
        raise invalid(f"Invalid config var name {key!r}: names may not start with HEROKU_ or __.")


def validate_domain(hostname: str) -> str:
    """A custom domain, lower-cased without its root dot; never an IP address or `localhost`,
    whose cookies (the dataclips login's among them) the app would receive."""
    name = hostname.lower().removesuffix(".")
    if not DOMAIN.fullmatch(name):
        raise invalid(f"{hostname!r} is not a valid hostname.")
    last = name.rsplit(".", 1)[-1]
    # browsers read a host whose last label is a number (127.1, 2130706433, 0x7f.1) as IPv4
    if last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last):
        raise invalid(f"{hostname!r} is an IP address: a custom domain must be a hostname.")
    if name == "localhost" or name.endswith(".localhost"):
        raise invalid(f"{hostname!r} is reserved for this machine: a custom domain must be another name.")
    return name


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        self.db = db
        self.bus = bus
        self.logs = logs
        self.urls = Urls()
        # called before an app's rows are deleted (dynos stopped, add-ons deprovisioned)
        self.destroy_hooks: list[Callable[[str], Any]] = []

    # ---- lookups -------------------------------------------------------------------------
    def _app(self, s: Session, ident: str) -> App:
        app = s.scalar(select(App).where((App.name == ident) | (App.id == ident)))
        if app is None:
            raise not_found("app")
        return app

    def app_names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(App.name).order_by(App.name)))

    def app_json(self, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "name": app.name,
            "maintenance": app.maintenance,
            "region": {"name": app.region},
            "stack": {"name": app.stack},
            "build_stack": {"name": app.stack},
            "owner": {"email": USER},
            "web_url": self.urls.web_url(app.name),
            "git_url": self.urls.git_url(app.name),
            "features": sorted(k for k, v in (app.features or {}).items() if v),
            "released_at": iso(app.released_at),
            "created_at": iso(app.created_at),
            "updated_at": iso(app.updated_at),
        }

    def list_apps(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [self.app_json(a) for a in s.scalars(select(App).order_by(App.name))]

    def get_app(self, ident: str) -> dict[str, Any]:
        with self.db.session() as s:
            return self.app_json(self._app(s, ident))

    # ---- apps ----------------------------------------------------------------------------
    def create_app(self, name: str | None = None, stack: str | None = None) -> dict[str, Any]:
        if name is None:
            name = random_app_name()
        validate_app_name(name)
        with self.db.session() as s:
            if s.scalar(select(App.id).where(App.name == name)) is not None:
                raise invalid("Name is already taken")
            app = App(name=name, config={}, features={}, stack=stack or "heroku-24")
            s.add(app)
            s.flush()
            s.add(Release(app_id=app.id, version=1, description="Initial release", config={}))
            s.add(Release(app_id=app.id, version=2, description="Enable Logplex", config={}))
            data = self.app_json(app)
        self.logs.api_line(name, f"Release v1 created by user {USER}")
        self.logs.api_line(name, f"Enable Logplex by user {USER}")
        self.logs.api_line(name, f"Release v2 created by user {USER}")
        self.bus.emit("app.created", name)
        return data

    def update_app(
        self, ident: str, maintenance: bool | None = None, name: str | None = None
    ) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            old = app.name
            if name is not None and name != app.name:
                validate_app_name(name)
                if s.scalar(select(App.id).where(App.name == name)) is not None:
                    raise invalid("Name is already taken")
                app.name = name
            if maintenance is not None:
                app.maintenance = maintenance
            s.flush()
            data = self.app_json(app)
        if maintenance is not None:
            word = "Enable" if maintenance else "Disable"
            self.logs.api_line(data["name"], f"{word} maintenance mode by user {USER}")
        if name is not None and name != old:
            self.bus.emit("app.destroyed", old)
            self.bus.emit("app.created", data["name"])
        else:
            self.bus.emit("app.updated", data["name"], maintenance=data["maintenance"])
        return data

    def set_feature(self, ident: str, feature: str, enabled: bool) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            features = dict(app.features or {})
            features[feature] = enabled
            app.features = features
            data = self.app_json(app)
        self.bus.emit("app.updated", data["name"], features=data["features"])
        return data

    def destroy_app(self, ident: str) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            data = self.app_json(app)
        for hook in self.destroy_hooks:
            hook(data["name"])
        with self.db.session() as s:
            app = self._app(s, ident)
            slug_paths = [p for p in s.scalars(select(Slug.path).where(Slug.app_id == app.id))]
            for model in (Addon, Domain, Build, Formation, Release):
                for row in s.scalars(select(model).where(model.app_id == app.id)):
                    s.delete(row)
            s.flush()
            for slug in s.scalars(select(Slug).where(Slug.app_id == app.id)):
                s.delete(slug)
            s.delete(app)
        for path in slug_paths:
            shutil.rmtree(path, ignore_errors=True)
        self.logs.forget(data["name"])
        self.bus.emit("app.destroyed", data["name"])
        return data

    # ---- config vars ---------------------------------------------------------------------
    def get_config(self, ident: str) -> dict[str, str]:
        with self.db.session() as s:
            return dict(self._app(s, ident).config or {})

    def update_config(
        self, ident: str, changes: dict[str, Any], description: str | None = None, status: str = "succeeded"
    ) -> dict[str, Any]:
        """PATCH semantics: a value sets, None deletes. Makes one new release (`pending` when a
        release phase must pass first). Returns the release."""
        if not isinstance(changes, dict) or not changes:
            raise invalid("Provide at least one config var to set or unset.")
        for key, value in changes.items():
            validate_config_key(key)
            if value is not None and not isinstance(value, str | int | float | bool):
                raise invalid(f"Config var {key} must be a string or null.")
        with self.db.session() as s:
            app = self._app(s, ident)
            config = dict(app.config or {})
            set_keys = [k for k, v in changes.items() if v is not None]
            unset_keys = [k for k, v in changes.items() if v is None and k in config]
            for k in set_keys:
                value = changes[k]
                config[k] = str(value).lower() if isinstance(value, bool) else str(value)
            for k in unset_keys:
                del config[k]
            size = sum(len(k.encode()) + len(v.encode()) for k, v in config.items())
            if size > CONFIG_LIMIT:
                raise invalid(f"Config vars are limited to 32 KB per app; this change makes {size} bytes.")
            if not set_keys and not unset_keys:
                return self._release_json(self._current_release(s, app))
            app.config = config
            if description is None:
                parts = []
                if set_keys:
                    parts.append(f"Set {', '.join(set_keys)} config vars")
                if unset_keys:
                    parts.append(f"Remove {', '.join(unset_keys)} config vars")
                description = " and ".join(parts)
            current = self._current_release(s, app)
            release = self._new_release(s, app, description, current.slug_id if current else None, status)
            data = self._release_json(release)
            name = app.name
        self.logs.api_line(name, f"{description} by user {USER}")
        self._announce_release(name, data)
        self.bus.emit("config.changed", name, keys=sorted(changes), version=data["version"])
        return data

    # ---- releases ------------------------------------------------------------------------
    def _current_release(self, s: Session, app: App) -> Release | None:
        return s.scalar(
            select(Release)
            .where(Release.app_id == app.id, Release.status == "succeeded")
            .order_by(Release.version.desc())
            .limit(1)
        )

    def _new_release(
        self, s: Session, app: App, description: str, slug_id: str | None, status: str = "succeeded"
    ) -> Release:
        top = s.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
        addon_plans = [
            f"{a.service}:{a.plan}" for a in s.scalars(select(Addon).where(Addon.app_id == app.id))
        ]
        release = Release(
            app_id=app.id,
            version=top + 1,
            description=description,
            slug_id=slug_id,
            config=dict(app.config or {}),
            status=status,
            addon_plan_names=addon_plans,
        )
        s.add(release)
        if status == "succeeded":
            app.released_at = datetime.now(UTC)
        s.flush()
        return release

    def _announce_release(self, app: str, release: dict[str, Any]) -> None:
        if release["status"] == "succeeded":
            self.logs.api_line(app, f"Release v{release['version']} created by user {USER}")
        self.bus.emit(
            "release.created",
            app,
            version=release["version"],
            description=release["description"],
            status=release["status"],
        )

    def _release_json(self, r: Release | None) -> dict[str, Any]:
        if r is None:
            return {}
        return {
            "id": r.id,
            "version": r.version,
            "description": r.description,
            "status": r.status,
            "current": False,
            "slug": {"id": r.slug_id} if r.slug_id else None,
            "user": {"id": USER, "email": USER},
            "addon_plan_names": list(r.addon_plan_names or []),
            "eligible_for_rollback": r.status == "succeeded",
            "output_stream_url": None,
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }

    def list_releases(self, ident: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            app = self._app(s, ident)
            current = self._current_release(s, app)
            out = []
            for r in s.scalars(select(Release).where(Release.app_id == app.id).order_by(Release.version)):
                data = self._release_json(r)
                data["current"] = current is not None and r.id == current.id
                out.append(data)
            return out

    def _find_release(self, s: Session, app: App, ref: str | int) -> Release:
        text = str(ref).lstrip("vV")
        query = select(Release).where(Release.app_id == app.id)
        if re.fullmatch(r"[0-9]{1,9}", text):  # ASCII digits an integer column can hold
            release = s.scalar(query.where(Release.version == int(text)))
        else:
            release = s.scalar(query.where(Release.id == str(ref)))
        if release is None:
            raise not_found("release")
        return release

    def get_release(self, ident: str, ref: str | int) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            release = self._find_release(s, app, ref)
            current = self._current_release(s, app)
            data = self._release_json(release)
            data["current"] = current is not None and current.id == release.id
            data["config_vars"] = dict(release.config or {})
            data["output"] = release.output
            return data

    def current_slug_id(self, ident: str) -> str | None:
        with self.db.session() as s:
            release = self._current_release(s, self._app(s, ident))
            return release.slug_id if release else None

    def release_config(self, ident: str, ref: str | int) -> dict[str, str]:
        with self.db.session() as s:
            return dict(self._find_release(s, self._app(s, ident), ref).config or {})

    def rollback(self, ident: str, ref: str | int | None = None) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            current = self._current_release(s, app)
            if ref is None:
                if current is None or current.version <= 1:
                    raise invalid("No release to roll back to.")
                target = s.scalar(
                    select(Release)
                    .where(
                        Release.app_id == app.id,
                        Release.version < current.version,
                        Release.status == "succeeded",
                    )
                    .order_by(Release.version.desc())
                    .limit(1)
                )
                if target is None:
                    raise invalid("No release to roll back to.")
            else:
                target = self._find_release(s, app, ref)
            if target.status != "succeeded":
                raise invalid(f"Release v{target.version} failed and can't be rolled back to.")
            app.config = dict(target.config or {})
            release = self._new_release(s, app, f"Rollback to v{target.version}", target.slug_id)
            data = self._release_json(release)
            name = app.name
        self._announce_release(name, data)
        return data

    def create_release(
        self, ident: str, slug_id: str, description: str, status: str = "succeeded"
    ) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            slug = s.get(Slug, slug_id)
            if slug is None or slug.app_id != app.id:
                raise not_found("slug")
            self._ensure_formation(s, app, slug.process_types or {})
            release = self._new_release(s, app, description, slug_id, status)
            data = self._release_json(release)
            name = app.name
        self._announce_release(name, data)
        return data

    def finish_release(self, ident: str, version: int, status: str, output: str = "") -> dict[str, Any]:
        """Mark a pending release (release phase) succeeded or failed."""
        with self.db.session() as s:
            app = self._app(s, ident)
            release = self._find_release(s, app, version)
            release.status = status
            release.output = output
            if status == "succeeded":
                app.released_at = datetime.now(UTC)
            data = self._release_json(release)
            name = app.name
        if status == "succeeded":
            self.logs.api_line(name, f"Release v{version} created by user {USER}")
        self.bus.emit("release.updated", name, version=version, status=status)
        if status == "succeeded":
            self.bus.emit(
                "release.created", name, version=version, description=data["description"], status=status
            )
        return data

    # ---- slugs ---------------------------------------------------------------------------
    def create_slug(
        self,
        ident: str,
        path: Path,
        process_types: dict[str, str],
        commit: str | None = None,
        size: int = 0,
        buildpack: str | None = None,
        docker_image: str | None = None,
    ) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            slug = Slug(
                app_id=app.id,
                path=str(path),
                process_types=process_types,
                commit=commit,
                size=size,
                stack=app.stack,
                buildpack=buildpack,
                docker_image=docker_image,
            )
            s.add(slug)
            s.flush()
            return self.slug_json(slug)

    def slug_json(self, slug: Slug) -> dict[str, Any]:
        return {
            "id": slug.id,
            "process_types": dict(slug.process_types or {}),
            "commit": slug.commit,
            "size": slug.size,
            "stack": {"name": slug.stack},
            "buildpack_provided_description": slug.buildpack,
            "docker_image": slug.docker_image,
            "created_at": iso(slug.created_at),
        }

    def get_slug(self, ident: str, slug_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            slug = s.get(Slug, slug_id)
            if slug is None or slug.app_id != app.id:
                raise not_found("slug")
            data = self.slug_json(slug)
            data["path"] = slug.path
            return data

    # ---- formation -----------------------------------------------------------------------
    def _ensure_formation(self, s: Session, app: App, process_types: dict[str, str]) -> None:
        """New process types join the formation: web at 1 on first appearance, others at 0."""
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

    def formation_json(self, f: Formation, app: App) -> dict[str, Any]:
        return {
            "id": f.id,
            "app": {"id": app.id, "name": app.name},
            "type": f.type,
            "quantity": f.quantity,
            "size": f.size,
            "dyno_size": {"name": f.size},
            "command": f.command,
            "updated_at": iso(f.updated_at),
        }

    def list_formation(self, ident: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            app = self._app(s, ident)
            rows = s.scalars(select(Formation).where(Formation.app_id == app.id).order_by(Formation.type))
            return [self.formation_json(f, app) for f in rows]

    def scale(self, ident: str, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """updates: [{type, quantity?, size?}] — all validated before any is applied."""
        if not updates:
            raise invalid("Provide at least one process type to scale.")
        with self.db.session() as s:
            app = self._app(s, ident)
            rows = {f.type: f for f in s.scalars(select(Formation).where(Formation.app_id == app.id))}
            planned: list[tuple[Formation, int | None, str | None]] = []
            for update in updates:
                ptype = update.get("type")
                if ptype not in rows:
                    if not rows:
                        raise invalid("No process types: deploy your app first.")
                    raise PaasError(
                        404,
                        "not_found",
                        f"Couldn't find that process type ({ptype}). Known types: {', '.join(sorted(rows))}.",
                    )
                quantity = update.get("quantity")
                if quantity is not None:
                    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                        raise invalid(f"Quantity for {ptype} must be a whole number of 0 or more.")
                    if quantity > 100:
                        raise invalid(f"Cannot scale {ptype} beyond 100 dynos.")
                size = update.get("size") or (update.get("dyno_size") or {}).get("name")
                if size is not None:
                    try:
                        size = get_size(str(size)).name
                    except ValueError:
                        raise invalid(
                            f"Unknown dyno size {size!r}; choose one of: {', '.join(SIZES)}"
                        ) from None
                planned.append((rows[ptype], quantity, size))
            for row, quantity, size in planned:
                if quantity is not None:
                    row.quantity = quantity
                if size is not None:
                    row.size = size
            s.flush()
            out = [self.formation_json(row, app) for row, _, _ in planned]
            name = app.name
            summary = ", ".join(f"{r.type}@{r.quantity}:{r.size}" for r, _, _ in planned)
        self.logs.api_line(name, f"Scaled to {summary} by user {USER}")
        for f in out:
            self.bus.emit("formation.changed", name, type=f["type"], quantity=f["quantity"], size=f["size"])
        return out

    # ---- domains -------------------------------------------------------------------------
    def list_domains(self, ident: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            app = self._app(s, ident)
            default = {"hostname": f"{app.name}.localhost", "kind": "heroku", "id": None}
            rows = s.scalars(select(Domain).where(Domain.app_id == app.id).order_by(Domain.hostname))
            return [default] + [{"hostname": d.hostname, "kind": "custom", "id": d.id} for d in rows]

    def add_domain(self, ident: str, hostname: str) -> dict[str, Any]:
        hostname = validate_domain(hostname)
        with self.db.session() as s:
            app = self._app(s, ident)
            if s.scalar(select(Domain.id).where(Domain.hostname == hostname)) or hostname.endswith(
                ".localhost"
            ):
                raise invalid(f"Domain {hostname} is already in use.")
            domain = Domain(app_id=app.id, hostname=hostname)
            s.add(domain)
            s.flush()
            data = {"hostname": hostname, "kind": "custom", "id": domain.id}
            name = app.name
        self.bus.emit("app.updated", name, domains=True)
        return data

    def remove_domain(self, ident: str, hostname: str) -> dict[str, Any]:
        with self.db.session() as s:
            app = self._app(s, ident)
            domain = s.scalar(
                select(Domain).where(Domain.app_id == app.id, Domain.hostname == hostname.lower())
            )
            if domain is None:
                raise not_found("domain")
            s.delete(domain)
            name = app.name
        self.bus.emit("app.updated", name, domains=True)
        return {"hostname": hostname}

    def domain_map(self) -> dict[str, str]:
        """hostname -> app name for every custom domain."""
        with self.db.session() as s:
            rows = s.execute(select(Domain.hostname, App.name).join(App, App.id == Domain.app_id))
            return {h: n for h, n in rows}

    # ---- desired state for the dyno manager and router ----------------------------------
    def desired(self, ident: str) -> AppDesired:
        with self.db.session() as s:
            app = self._app(s, ident)
            release = self._current_release(s, app)
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
                processes=procs if slug else (),
                docker_image=slug.docker_image if slug else None,
                features=frozenset(k for k, v in (app.features or {}).items() if v),
            )

    def route_info(self) -> list[dict[str, Any]]:
        """What the router needs per app: maintenance, whether anything was deployed, domains."""
        with self.db.session() as s:
            apps = list(s.scalars(select(App)))
            domains: dict[str, list[str]] = {}
            for hostname, app_id in s.execute(select(Domain.hostname, Domain.app_id)):
                domains.setdefault(app_id, []).append(hostname)
            out = []
            web = dict(
                s.execute(select(Formation.app_id, Formation.quantity).where(Formation.type == "web")).all()
            )
            for app in apps:
                release = self._current_release(s, app)
                out.append(
                    {
                        "name": app.name,
                        "web_quantity": web.get(app.id, 0),
                        "maintenance": app.maintenance,
                        "released": bool(release and release.slug_id),
                        "domains": domains.get(app.id, []),
                        "features": sorted(k for k, v in (app.features or {}).items() if v),
                    }
                )
            return out
