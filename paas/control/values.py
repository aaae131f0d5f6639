"""The control plane's domain as typed values: what its services return and the API presents.

Read from the state database inside a transaction and detached from it; JSON is made from
these only at the API edge (`paas.api.presenters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from paas.state.models import App, Domain, Formation, Release, Slug


def iso(ts: datetime | None) -> str | None:
    """A timestamp as the Platform API writes it (UTC, seconds, `Z`)."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enabled_features(features: Mapping[str, object] | None) -> tuple[str, ...]:
    return tuple(sorted(k for k, v in (features or {}).items() if v))


@dataclass(frozen=True)
class AppInfo:
    id: str
    name: str
    maintenance: bool
    region: str
    stack: str
    features: tuple[str, ...]  # the enabled ones, sorted
    released_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: App) -> AppInfo:
        return cls(
            id=row.id,
            name=row.name,
            maintenance=row.maintenance,
            region=row.region,
            stack=row.stack,
            features=enabled_features(row.features),
            released_at=row.released_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class ReleaseInfo:
    id: str
    app: str
    version: int
    description: str
    status: str  # pending | succeeded | failed
    slug_id: str | None
    config: Mapping[str, str]
    addon_plan_names: tuple[str, ...]
    output: str
    created_at: datetime
    updated_at: datetime
    current: bool = False  # the app's live release (known when listed or looked up)

    @classmethod
    def of(cls, row: Release, app: str, current: bool = False) -> ReleaseInfo:
        return cls(
            id=row.id,
            app=app,
            version=row.version,
            description=row.description,
            status=row.status,
            slug_id=row.slug_id,
            config=dict(row.config or {}),
            addon_plan_names=tuple(str(p) for p in row.addon_plan_names or ()),
            output=row.output or "",
            created_at=row.created_at,
            updated_at=row.updated_at,
            current=current,
        )

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class SlugInfo:
    id: str
    app_id: str
    path: Path
    process_types: Mapping[str, str]
    commit: str | None
    size: int
    stack: str
    buildpack: str | None
    docker_image: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Slug) -> SlugInfo:
        return cls(
            id=row.id,
            app_id=row.app_id,
            path=Path(row.path),
            process_types={str(k): str(v) for k, v in (row.process_types or {}).items()},
            commit=row.commit,
            size=row.size,
            stack=row.stack,
            buildpack=row.buildpack,
            docker_image=row.docker_image,
            created_at=row.created_at,
        )

    @property
    def release_command(self) -> str | None:
        """The `release:` process type: Heroku's release phase runs it before the release goes live."""
        return self.process_types.get("release") or None


@dataclass(frozen=True)
class FormationInfo:
    id: str
    app_id: str
    app: str
    type: str
    quantity: int
    size: str
    command: str
    updated_at: datetime

    @classmethod
    def of(cls, row: Formation, app: str) -> FormationInfo:
        return cls(
            id=row.id,
            app_id=row.app_id,
            app=app,
            type=row.type,
            quantity=row.quantity,
            size=row.size,
            command=row.command,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class FormationChange:
    """One process type's scale request: a new quantity, a new size, or both."""

    type: str
    quantity: int | None = None
    size: str | None = None


@dataclass(frozen=True)
class DomainInfo:
    hostname: str
    kind: str  # heroku (the default <app>.localhost) | custom
    id: str | None = None

    @classmethod
    def of(cls, row: Domain) -> DomainInfo:
        return cls(hostname=row.hostname, kind="custom", id=row.id)


@dataclass(frozen=True)
class RouteInfo:
    """What the router needs to know about one app from the state database."""

    name: str
    web_quantity: int
    maintenance: bool
    released: bool  # something was deployed
    domains: tuple[str, ...] = ()
    features: frozenset[str] = field(default_factory=frozenset)
