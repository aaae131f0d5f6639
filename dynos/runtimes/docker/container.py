"""What a dyno's container looks like: labels, environment, command, mounts, network, limits.

Pure functions of the `DynoSpec` (no engine calls), so the shape of a container can be read
and tested in one place. `DockerRuntime` turns a `ContainerPlan` into `create_container`.
The network side (own namespace, `$PORT` published on 127.0.0.1, the gate) is explained in
`network.py`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import LOOPBACK
from dynos.runtimes.base import DynoSpec
from dynos.runtimes.docker.network import NETWORK, RUN_MOUNT, gate_wait
from dynos.runtimes.process import shell_script

LABEL = "io.paas"
HOME_LABEL = f"{LABEL}.home"
APP_LABEL = f"{LABEL}.app"
DYNO_LABEL = f"{LABEL}.dyno"
TYPE_LABEL = f"{LABEL}.type"
RELEASE_LABEL = f"{LABEL}.release"
SPEC_LABEL = f"{LABEL}.spec"
PORT_LABEL = f"{LABEL}.port"

APP_DIR = "/app"
SLUG_MOUNT = "/slug"
LOG_CONFIG = {"Type": "local", "Config": {"max-size": "1m", "max-file": "2", "compress": "false"}}


def boot_script(spec: DynoSpec, *, gate: bool = False) -> str:
    """PID 1's child: copy the slug into the container's writable layer, then exec the dyno's
    script (argument 1) so the app process is the one tini signals.

    Log dynos get stderr merged into stdout right here, in one pipe, as the process runtime
    does: two engine streams would not keep the order of lines written close together. A pty
    gets its window size before the app starts (the engine's resize would come too late).
    With `gate`, the app starts only once the runtime opened the gate (its add-on relays
    listen, see network.py); the slug copy runs meanwhile.
    """
    steps = [f'cp -a {SLUG_MOUNT}/. "$HOME"/ || {{ echo "paas: could not copy the slug" >&2; exit 1; }}']
    if gate:
        steps.append(gate_wait())
    if spec.stdio == "pty":
        steps.append(f"stty rows {int(spec.tty_rows)} cols {int(spec.tty_cols)} 2>/dev/null")
    merge = " 2>&1" if spec.stdio == "log" else ""
    steps.append(f'cd "$HOME" && exec bash -c "$1"{merge}')
    return "; ".join(steps)


def fingerprint(spec: DynoSpec, image: str) -> str:
    """What makes two dynos interchangeable: command, env, size, image, slug, release, and the
    network they run on (a container of an older paas on the host's network is replaced)."""
    material = json.dumps(
        [
            NETWORK,
            spec.app,
            spec.name,
            spec.command,
            sorted(spec.env.items()),
            spec.size.name,
            image,
            str(spec.slug_dir or ""),
            spec.release,
            spec.wants_port,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def container_env(spec: DynoSpec, port: int | None, *, from_slug: bool) -> dict[str, str]:
    env = {"PYTHONUNBUFFERED": "1"}
    if spec.stdio == "pty":
        env["TERM"] = spec.env.get("TERM") or "xterm-256color"
    env.update({k: str(v) for k, v in spec.env.items()})
    if from_slug:
        env["HOME"] = APP_DIR
    env["DYNO"] = spec.name
    if port is not None:
        env["PORT"] = str(port)
    # the dyno has a network namespace of its own: to be reached through its published port it
    # listens on all of its interfaces, as on Heroku (apps that read HOST pick that up)
    env.setdefault("HOST", "0.0.0.0")
    env["TINI_KILL_PROCESS_GROUP"] = "1"  # signals reach the dyno's whole process group
    env["TINI_VERBOSITY"] = "0"  # no "[WARN tini (1)]" lines in the dyno's own output
    return env


@dataclass
class ContainerPlan:
    """The arguments of `create_container` for one dyno."""

    image: str
    name: str
    command: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]
    working_dir: str | None
    binds: dict[str, dict[str, str]] = field(default_factory=dict)
    interactive: bool = False  # stdin open (attached one-offs)
    tty: bool = False
    from_slug: bool = True
    port: int | None = None  # $PORT, published on the host's 127.0.0.1 at the same number
    entrypoint: list[str] | None = None  # container deploys behind a gate: the gate, then theirs

    def host_config(self, api: Any, spec: DynoSpec) -> Any:
        return api.create_host_config(
            network_mode=NETWORK,
            port_bindings={self.port: (LOOPBACK, self.port)} if self.port is not None else None,
            init=True,
            binds=self.binds,
            mem_limit=spec.size.hard_limit_bytes,
            memswap_limit=spec.size.hard_limit_bytes,
            log_config=LOG_CONFIG,
        )

    @property
    def ports(self) -> list[int] | None:
        return [self.port] if self.port is not None else None


def _image_command(
    spec: DynoSpec, image_config: dict[str, Any] | None, gate: bool
) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command) of a container deploy: the Procfile command through /bin/sh, else
    the image's own; behind a gate, a /bin/sh step that waits, then execs the image's entrypoint."""
    command = ["/bin/sh", "-c", spec.command] if spec.command.strip() else None
    if not gate:
        return None, command
    config = image_config or {}
    wait = f'{gate_wait()}; exec "$@"'
    entrypoint = ["/bin/sh", "-c", wait, "paas-gate", *(config.get("Entrypoint") or [])]
    return entrypoint, command or list(config.get("Cmd") or [])


def plan_container(
    spec: DynoSpec,
    image: str,
    *,
    home_label: str,
    name: str,
    fingerprint: str,
    port: int | None,
    gate_dir: Path | None = None,
    image_config: dict[str, Any] | None = None,
) -> ContainerPlan:
    """`gate_dir`: the host directory holding the dyno's gate (see network.py), when its
    command must wait for relays; `image_config`: the image's Config (container deploys)."""
    from_slug = spec.docker_image is None
    gate = gate_dir is not None
    entrypoint = None
    binds = {str(gate_dir): {"bind": RUN_MOUNT, "mode": "ro"}} if gate_dir is not None else {}
    if from_slug:
        assert spec.slug_dir is not None
        script = shell_script(spec.command, spec.slug_dir)
        command: list[str] | None = ["bash", "-c", boot_script(spec, gate=gate), "paas-boot", script]
        binds[str(Path(spec.slug_dir).resolve())] = {"bind": SLUG_MOUNT, "mode": "ro"}
    else:
        entrypoint, command = _image_command(spec, image_config, gate)
    labels = {
        HOME_LABEL: home_label,
        APP_LABEL: spec.app,
        DYNO_LABEL: spec.name,
        TYPE_LABEL: spec.type,
        RELEASE_LABEL: str(spec.release),
        SPEC_LABEL: fingerprint,
        PORT_LABEL: str(port or ""),
    }
    return ContainerPlan(
        image=image,
        name=name,
        command=command,
        environment=container_env(spec, port, from_slug=from_slug),
        labels=labels,
        working_dir=APP_DIR if from_slug else None,
        binds=binds,
        interactive=spec.stdio != "log",
        tty=spec.stdio == "pty",
        from_slug=from_slug,
        port=port,
        entrypoint=entrypoint,
    )
