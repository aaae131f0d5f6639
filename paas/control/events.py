"""The control plane's events, as typed payloads on the one bus (`common.events.EventBus`).

Producers build one of these and `publish` it; it travels as an `Event(kind, app, data)` whose
`data` holds the payload's other fields (fields left None are left out), so in-process
listeners, the API's `/events` stream and the TUI see the shapes they always saw. `payload`
turns a received event back into its typed value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from common.events import Event, EventBus


@dataclass(frozen=True)
class ControlEvent:
    kind: ClassVar[str]
    app: str


@dataclass(frozen=True)
class AppCreated(ControlEvent):
    kind = "app.created"


@dataclass(frozen=True)
class AppUpdated(ControlEvent):
    """What changed: maintenance mode, the enabled features, or the custom domains."""

    kind = "app.updated"
    maintenance: bool | None = None
    features: list[str] | None = None
    domains: bool | None = None


@dataclass(frozen=True)
class AppDestroyed(ControlEvent):
    kind = "app.destroyed"


@dataclass(frozen=True)
class ConfigChanged(ControlEvent):
    kind = "config.changed"
    keys: list[str]
    version: int


@dataclass(frozen=True)
class ReleaseCreated(ControlEvent):
    """A release was made: `pending` while its release phase runs, `succeeded` once live."""

    kind = "release.created"
    version: int
    description: str
    status: str


@dataclass(frozen=True)
class ReleaseUpdated(ControlEvent):
    """A pending release ended: succeeded or failed."""

    kind = "release.updated"
    version: int
    status: str


@dataclass(frozen=True)
class FormationChanged(ControlEvent):
    kind = "formation.changed"
    type: str
    quantity: int
    size: str


@dataclass(frozen=True)
class BuildUpdated(ControlEvent):
    kind = "build.updated"
    id: str
    status: str


@dataclass(frozen=True)
class AddonUpdated(ControlEvent):
    kind = "addon.updated"
    name: str
    service: str
    plan: str
    state: str


KINDS: dict[str, type[ControlEvent]] = {
    cls.kind: cls
    for cls in (
        AppCreated,
        AppUpdated,
        AppDestroyed,
        ConfigChanged,
        ReleaseCreated,
        ReleaseUpdated,
        FormationChanged,
        BuildUpdated,
        AddonUpdated,
    )
}


def publish(bus: EventBus, event: ControlEvent) -> None:
    data: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name != "app" and value is not None:
            data[f.name] = value
    bus.emit(event.kind, event.app, **data)


def payload(event: Event) -> ControlEvent | None:
    """The typed payload of a control-plane event (None for other parts' events)."""
    cls = KINDS.get(event.kind)
    if cls is None or event.app is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(app=event.app, **{k: v for k, v in event.data.items() if k in names})
