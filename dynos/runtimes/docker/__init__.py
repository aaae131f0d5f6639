"""The Docker runtime: each dyno is one container on a local Docker engine.

Same contract as `ProcessRuntime` (see `dynos/runtimes/base.py`), so the supervisor's
lifecycle, log lines and timers are identical; what differs is only the mechanism:

* **Image and filesystem** (`container.py`). Slug dynos run on the stack image
  (`settings.stack_image`, else the locally built `paas/stack:local`, see `dynos/stack.py`).
  The slug is bind-mounted read-only at `/slug` and copied into the container's own writable
  layer at `/app` when it starts, so every dyno has a private, ephemeral filesystem that
  vanishes with the container. Container deploys (`spec.docker_image`) run their own image.
* **Network** (`network.py`). A network namespace per dyno, its `$PORT` published on the
  host's 127.0.0.1 only; the add-ons' 127.0.0.1 addresses in its config work from inside
  (relayed to the host's loopback); the router only ever connects to 127.0.0.1.
* **Signals** (`signals.py`). `init=True` puts the engine's tini at PID 1 with
  `TINI_KILL_PROCESS_GROUP=1`: SIGTERM reaches every process of the dyno's group (like
  `killpg` in the process runtime), a main process killed by signal N gives exit status
  128+N, and when the main process ends the whole container ends.
* **Memory** (`dyno.py`, `api.py`). `mem_limit` = `memswap_limit` = the size's hard limit (2x
  quota). The engine's stats stream feeds `memory()` (R14); when the kernel OOM-kills inside
  the container the engine reports an `oom` event / `State.OOMKilled`, the runtime kills the
  whole dyno and `proc.oom_killed` tells the supervisor to log R15.
* **Events, not polling** (`api.py`). One events stream (filtered on this daemon's label)
  resolves every `wait()`; output arrives on an attach stream per container (`attach.py`).
* **Ownership** (`container.py`). Every container carries `io.paas.home=<PAAS_HOME>` plus app,
  dyno, type, release and a fingerprint of its spec. Nothing without this daemon's home label
  is touched.
* **Adoption** (`leftovers.py`). A daemon that died (crash, SIGKILL) leaves its containers
  running; the next daemon re-attaches to those whose spec is unchanged and removes the rest.
* **Selection** (`availability.py`): an engine must answer and a stack image be usable.
"""

from __future__ import annotations

from dynos.runtimes.docker.availability import docker_unavailable_reason
from dynos.runtimes.docker.container import APP_LABEL, HOME_LABEL
from dynos.runtimes.docker.engine import Engine, EngineError
from dynos.runtimes.docker.runtime import DockerRuntime

__all__ = ["APP_LABEL", "HOME_LABEL", "DockerRuntime", "Engine", "EngineError", "docker_unavailable_reason"]
