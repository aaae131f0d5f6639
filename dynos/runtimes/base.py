"""The Runtime interface: how the dyno manager starts, watches and stops one dyno process.

The manager (`dynos/manager.py`) and the per-dyno supervisor (`dynos/supervisor.py`) own
*policy*: Heroku's lifecycle, log lines, timers, back-off, memory quotas. A runtime owns
*mechanism*: it turns a `DynoSpec` into a running `DynoProcess` and reports what that process
does. Two runtimes implement it: `ProcessRuntime` (local process groups) and the Docker
runtime (containers). Neither writes log lines or publishes events; that keeps every Heroku
string in one place and lets both runtimes behave identically.

Contract, in the order the supervisor uses it:

1. `await runtime.prepare()` once at daemon start: reap whatever a previous daemon left
   running (it may have been SIGKILLed), then get ready to spawn.
2. `proc = await runtime.spawn(spec, output)` starts one dyno: a fresh writable copy of the
   slug (ephemeral filesystem), environment `spec.env` plus `PORT` (when `spec.wants_port`,
   chosen by the runtime and readable as `proc.port`) and `DYNO`, the command run by bash.
   Raises `SpawnError` (message shown to the user) when the dyno cannot be created at all.
   From then on the runtime calls `output(stream, chunk)` with raw bytes as they arrive
   (`stream` is "stdout" or "stderr"; in "log" stdio mode both are merged into "stdout"),
   and `output(stream, b"")` once at end of stream. It is called on the event-loop thread.
3. `await proc.probe()` answers "does `$PORT` accept connections right now?" (R10 / up).
4. `await proc.memory()` is the resident memory (+ swap) of the dyno's whole process tree.
5. `proc.signal(sig)` delivers a signal to every process of the dyno (the group / container).
6. `await proc.wait()` returns the exit status of the dyno's main process, Heroku style:
   the exit code, or 128+N when killed by signal N (143 after SIGTERM, 137 after SIGKILL).
   When the main process ends, the dyno ends: the runtime kills what is left of it and
   `wait()` resolves after the output has been drained (bounded). Safe to await many times.
7. `await proc.cleanup()` after `wait()`: wipe the dyno's filesystem, release its port and
   any bookkeeping. Idempotent.
8. `await runtime.close()` at daemon exit, after every dyno was stopped.

Optional attributes a runtime may set on its `DynoProcess` (read with getattr):
`oom_killed: bool` — the dyno was killed because it hit the runtime-enforced hard memory
limit (the Docker runtime's `mem_limit`; the kernel OOM-kills before the supervisor could
see the figure), so the supervisor logs R15; `peak_memory: int` — the highest memory seen,
for that R15's `Process running mem=` line; `isolated: bool` — the dyno has a network
namespace of its own (only its published $PORT reaches it); `async listeners()` — the TCP
sockets the dyno listens on (`dynos.runtimes.sockets.Listener`), None when it cannot tell:
the supervisor warns about a process dyno listening beyond loopback and about a container
dyno listening on $PORT only inside its own loopback.

Optional on the runtime: `adopts(spec) -> bool` — `spawn(spec)` will re-attach to a dyno a
previous daemon left running (no new process, so no `Starting process` line).

Attached one-off dynos (`spec.stdio` "pipes" or "pty") additionally use `await write_stdin`,
`close_stdin`, `resize`, `pause_output` and `resume_output` (flow control towards a slow
client); for "log" dynos those are no-ops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from dynos.sizes import DEFAULT_SIZE, DynoSize, get_size

Stdio = Literal["log", "pipes", "pty"]
OutputCallback = Callable[[str, bytes], None]


class SpawnError(RuntimeError):
    """The runtime could not create the dyno (no slug, copy failed, image missing...)."""


@dataclass(frozen=True)
class DynoSpec:
    """Everything a runtime needs to start one dyno. Built by the manager, never mutated."""

    app: str
    name: str  # web.1, worker.2, run.4821
    type: str  # web, worker, run
    command: str
    release: int
    env: Mapping[str, str]  # config vars + DYNO (+ anything the manager adds); PORT is the runtime's
    slug_dir: Path | None = None
    docker_image: str | None = None
    size: DynoSize = field(default_factory=lambda: get_size(DEFAULT_SIZE))
    wants_port: bool = False  # allocate $PORT (web dynos, one-offs)
    stdio: Stdio = "log"  # log: merged output to the log stream; pipes/pty: attached one-off
    tty_rows: int = 24
    tty_cols: int = 80

    @property
    def is_web(self) -> bool:
        return self.type == "web"


@runtime_checkable
class DynoProcess(Protocol):
    """One running dyno, as returned by `Runtime.spawn`."""

    id: str  # runtime-specific identity (pid, container id)
    pid: int | None
    port: int | None  # host-side port the router connects to (127.0.0.1), None without $PORT
    host: str
    container: str | None

    async def wait(self) -> int: ...

    def signal(self, sig: int) -> None: ...

    async def probe(self) -> bool: ...

    async def memory(self) -> int: ...

    async def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    def pause_output(self) -> None: ...

    def resume_output(self) -> None: ...

    async def cleanup(self) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """A way to run dynos. See the module docstring for the full contract."""

    name: str  # "process" or "docker"

    async def prepare(self) -> None: ...

    async def spawn(self, spec: DynoSpec, output: OutputCallback) -> DynoProcess: ...

    async def close(self) -> None: ...


def exit_status(returncode: int) -> int:
    """subprocess-style return code (negative = killed by signal) → Heroku's exit status."""
    return 128 - returncode if returncode < 0 else returncode
