"""Containers a previous daemon left running, waiting to be adopted.

A daemon that died (crash, SIGKILL) leaves its containers running. The next daemon's
`prepare()` lists them (`Leftovers.load`); `spawn()` of the same app/dyno claims one
(`claim`) and re-attaches to it when its spec fingerprint matches. The manager starts every
dyno of an app in one reconcile, so once one dyno of an app was spawned, that app's unclaimed
containers (scaled down meanwhile) go `APP_SWEEP_DELAY` seconds later; those of apps nobody
asked for after `ADOPTION_GRACE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dynos.runtimes.docker.container import APP_LABEL, DYNO_LABEL, PORT_LABEL, SPEC_LABEL

ADOPTION_GRACE = 60.0  # unclaimed containers of a previous daemon are removed after this
APP_SWEEP_DELAY = 5.0  # ... and an app's own unclaimed ones this long after its first spawn


@dataclass
class Leftover:
    """A running container of a previous daemon."""

    id: str
    name: str  # the container's name (its run directory is named after it)
    app: str
    dyno: str
    fingerprint: str
    port: int | None


class Leftovers:
    """The previous daemon's running formation dynos, by (app, dyno)."""

    def __init__(self) -> None:
        self._by_dyno: dict[tuple[str, str], Leftover] = {}
        self._swept_apps: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._by_dyno)

    def load(self, containers: list[dict[str, Any]]) -> list[str]:
        """Keep the running formation dynos of `containers` (the engine's list); returns the
        ids to remove: stopped ones, one-offs (their client died with the daemon), duplicates."""
        remove: list[str] = []
        for item in containers:
            labels = item.get("Labels") or {}
            if item.get("State") != "running":
                remove.append(item["Id"])
                continue
            port_text = labels.get(PORT_LABEL) or ""
            names = item.get("Names") or [""]
            leftover = Leftover(
                id=item["Id"],
                name=str(names[0]).lstrip("/"),
                app=labels.get(APP_LABEL, ""),
                dyno=labels.get(DYNO_LABEL, ""),
                fingerprint=labels.get(SPEC_LABEL, ""),
                port=int(port_text) if port_text.isdigit() else None,
            )
            key = (leftover.app, leftover.dyno)
            if not leftover.dyno or key in self._by_dyno or leftover.dyno.startswith(("run.", "release.")):
                # helpers, one-offs (their client died with the daemon), duplicates
                remove.append(leftover.id)
                continue
            self._by_dyno[key] = leftover
        return remove

    def names(self) -> set[str]:
        return {left.name for left in self._by_dyno.values()}

    def ports(self) -> set[int]:
        return {left.port for left in self._by_dyno.values() if left.port is not None}

    def peek(self, app: str, dyno: str) -> Leftover | None:
        return self._by_dyno.get((app, dyno))

    def claim(self, app: str, dyno: str) -> tuple[Leftover | None, bool]:
        """(the container of this dyno, if any; True when the app's unclaimed ones should be
        swept soon: the first claim of an app that has others)."""
        leftover = self._by_dyno.pop((app, dyno), None)
        sweep = app not in self._swept_apps and any(a == app for a, _ in self._by_dyno)
        if sweep:
            self._swept_apps.add(app)
        return leftover, sweep

    def take(self, app: str | None = None) -> list[Leftover]:
        """Remove from the set and return every leftover (or one app's): nobody claimed them."""
        keys = [k for k in self._by_dyno if app is None or k[0] == app]
        return [self._by_dyno.pop(key) for key in keys]
