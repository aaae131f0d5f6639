"""The faults in force, per app and dyno, and how API input becomes a fault.

`make_fault` validates what a person typed (type, attributes, stream, toxicity, name) and
words every refusal for them; `FaultRegistry` holds the faults per (app, target), where a
target is a dyno (`web.1`) or a process type (`web`: all its dynos), and rolls their toxicity
for each new connection. Bounded: `MAX_FAULTS_PER_DYNO` per target.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.faults.bandwidth import Bandwidth
from router.faults.latency import Latency
from router.faults.limit_data import LimitData
from router.faults.reset_peer import ResetPeer
from router.faults.slow_close import SlowClose
from router.faults.timeout import Timeout
from router.faults.toxic import DOWNSTREAM, STREAMS, Fault, FaultError

MAX_FAULTS_PER_DYNO = 16
_MAX_VALUE = 10**9

FAULT_TYPES: dict[str, type[Fault]] = {
    t.type: t for t in (Latency, Timeout, ResetPeer, SlowClose, Bandwidth, LimitData)
}


def make_fault(
    kind: str,
    attributes: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    stream: str = DOWNSTREAM,
    toxicity: float = 1.0,
) -> Fault:
    """Build and validate a fault from API/CLI input; raises FaultError with a clear message."""
    cls = FAULT_TYPES.get(kind)
    if cls is None:
        raise FaultError(f"unknown fault type {kind!r}; choose one of: {', '.join(FAULT_TYPES)}")
    if stream not in STREAMS:
        raise FaultError(f"stream must be downstream or upstream, not {stream!r}")
    values = _attribute_values(cls, attributes or {})
    fault_name = name or kind
    if not fault_name or len(fault_name) > 64 or not all(c.isalnum() or c in "-_." for c in fault_name):
        raise FaultError(f"fault name {fault_name!r} must be 1-64 letters, digits, '-', '_' or '.'")
    # a jitter larger than the latency is allowed: delays are clamped at 0
    return cls(name=fault_name, stream=stream, toxicity=_toxicity(toxicity), **values)


def _toxicity(raw: Any) -> float:
    try:
        toxicity = float(raw)
    except (TypeError, ValueError):
        raise FaultError(f"toxicity must be a number between 0 and 1, not {raw!r}") from None
    if not 0.0 <= toxicity <= 1.0:
        raise FaultError(f"toxicity must be between 0 and 1, not {toxicity:g}")
    return toxicity


def _attribute_values(cls: type[Fault], attributes: dict[str, Any]) -> dict[str, int]:
    allowed = cls.attribute_names()
    values: dict[str, int] = {}
    for key, raw in attributes.items():
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise FaultError(f"{cls.type} has no attribute {key!r} (attributes: {names})")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise FaultError(f"{cls.type} {key} must be a whole number, not {raw!r}") from None
        if value < 0 or value > _MAX_VALUE:
            raise FaultError(f"{cls.type} {key} must be between 0 and {_MAX_VALUE}, not {value}")
        values[key] = value
    return values


@dataclass
class Entry:
    app: str
    target: str  # "web.1", or a process type ("web") meaning all its dynos
    fault: Fault
    connections: int = 0  # connections it was applied to

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "dyno": self.target, **self.fault.to_json(), "connections": self.connections}


class FaultRegistry:
    """In-memory faults per (app, dyno). The daemon builds one at start and owns it; the
    router's FaultConnector reads it, the API changes it. Loop thread only."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, list[Entry]]] = {}  # app -> target -> entries
        self.connections = 0  # faulted connections opened
        self.active = 0  # faulted connections open now
        self.bypassed = 0  # connections that skipped faults because MAX_FAULTED_CONNECTIONS was reached
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(app)` after the app's faults change (router processes get them)."""
        self._listeners.append(listener)

    def _changed(self, app: str) -> None:
        for listener in list(self._listeners):
            listener(app)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, app: str, target: str, fault: Fault) -> Entry:
        entries = self._entries.setdefault(app, {}).setdefault(target, [])
        if any(e.fault.name == fault.name for e in entries):
            raise FaultError(
                f"{target} on {app} already has a fault named {fault.name}; remove it first or pass --name"
            )
        if len(entries) >= MAX_FAULTS_PER_DYNO:
            raise FaultError(f"{target} on {app} already has {MAX_FAULTS_PER_DYNO} faults")
        entry = Entry(app, target, fault)
        entries.append(entry)
        self._changed(app)
        return entry

    def remove(self, app: str, target: str, name: str) -> Entry:
        entries = self._entries.get(app, {}).get(target, [])
        for entry in entries:
            if entry.fault.name == name:
                entries.remove(entry)
                self._prune(app, target)
                self._changed(app)
                return entry
        raise KeyError(f"{target} on {app} has no fault named {name}")

    def clear(self, app: str, target: str | None = None) -> int:
        targets = self._entries.get(app, {})
        if target is None:
            count = sum(len(v) for v in targets.values())
            self._entries.pop(app, None)
        else:
            count = len(targets.pop(target, []))
            self._prune(app, target)
        if count:
            self._changed(app)
        return count

    def _prune(self, app: str, target: str) -> None:
        targets = self._entries.get(app)
        if targets is not None:
            if not targets.get(target, True):
                del targets[target]
            if not targets:
                del self._entries[app]

    def entries(self, app: str | None = None) -> list[Entry]:
        apps = [app] if app is not None else sorted(self._entries)
        out: list[Entry] = []
        for name in apps:
            for target in sorted(self._entries.get(name, {})):
                out += self._entries[name][target]
        return out

    def apps(self) -> list[str]:
        return list(self._entries)

    def pick(self, app: str, dyno: str) -> list[Fault]:
        """Fresh copies of the faults that apply to a new connection to this dyno (toxicity rolled)."""
        targets = self._entries.get(app)
        if not targets:
            return []
        ptype = dyno.split(".", 1)[0]
        chosen: list[Fault] = []
        for target in (ptype, dyno):
            for entry in targets.get(target, []):
                if entry.fault.toxicity >= 1.0 or random.random() < entry.fault.toxicity:
                    entry.connections += 1
                    chosen.append(copy.copy(entry.fault))
        return chosen

    def stats(self) -> dict[str, int]:
        return {
            "faults": len(self.entries()),
            "connections": self.connections,
            "active": self.active,
            "bypassed": self.bypassed,
        }
