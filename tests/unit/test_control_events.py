"""The control plane's typed events travel on the one bus in the shapes clients always saw."""

from __future__ import annotations

from common.events import Event, EventBus
from paas.control.events import AppUpdated, ConfigChanged, ReleaseCreated, payload, publish


def test_a_typed_event_arrives_as_the_same_event_json_and_reads_back_typed() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(None, seen.append)
    publish(bus, ReleaseCreated("web1", 7, "Deploy 1a2b3c4d", "pending"))
    publish(bus, ConfigChanged("web1", ["A", "B"], 8))
    assert [(e.kind, e.app, e.data) for e in seen] == [
        ("release.created", "web1", {"version": 7, "description": "Deploy 1a2b3c4d", "status": "pending"}),
        ("config.changed", "web1", {"keys": ["A", "B"], "version": 8}),
    ]
    assert payload(seen[0]) == ReleaseCreated("web1", 7, "Deploy 1a2b3c4d", "pending")
    assert payload(Event("router.request", "web1", {"code": "H12"})) is None


def test_fields_left_unset_are_not_sent() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(["app.updated"], seen.append)
    publish(bus, AppUpdated("web1", maintenance=True))
    publish(bus, AppUpdated("web1", features=["preboot"]))
    assert [e.data for e in seen] == [{"maintenance": True}, {"features": ["preboot"]}]
    assert payload(seen[1]) == AppUpdated("web1", features=["preboot"])
