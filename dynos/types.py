"""What the control plane asks of the dyno manager: the desired state of one app.

The daemon builds an `AppDesired` from the state database after every release, formation
change or restart request and hands it to the dyno manager, which reconciles the running
dynos to it. Nothing here imports the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcessDesired:
    type: str
    command: str
    quantity: int
    size: str = "standard-1x"


@dataclass(frozen=True)
class AppDesired:
    app: str
    release: int  # release version; 0 = nothing deployed
    slug_dir: Path | None
    config: dict[str, str]
    processes: tuple[ProcessDesired, ...] = ()
    docker_image: str | None = None  # container deploys run this image instead of the slug
    features: frozenset[str] = field(default_factory=frozenset)
    app_id: str = ""  # the state database's id (log-runtime-metrics names dynos with it)

    def process(self, type_: str) -> ProcessDesired | None:
        return next((p for p in self.processes if p.type == type_), None)


@dataclass(frozen=True)
class DynoInfo:
    """A snapshot of one dyno, as the API, the router table and the TUI see it."""

    app: str
    name: str  # web.1, worker.2, run.4821
    type: str
    state: str  # starting | up | crashed | down | stopping
    command: str
    release: int
    size: str
    port: int | None
    host: str = "127.0.0.1"
    since: float = 0.0  # epoch seconds of the last state change
    memory_bytes: int = 0
    pid: int | None = None
    container: str | None = None
    restarts: int = 0
