"""DockerRuntime: creates, adopts and removes this daemon's dyno containers.

The docker SDK does the control calls (create, start, remove, list) on a small thread pool;
the streams (events, stats, attach) and the frequent calls (kill, inspect) go straight to the
engine's socket from the event loop (`api.py`, `attach.py`), so no thread blocks per dyno.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import secrets
import shutil
import signal as signals
import socket
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import docker.errors

from common.config import Settings
from dynos.runtimes.base import DynoSpec, OutputCallback, SpawnError
from dynos.runtimes.docker import container
from dynos.runtimes.docker.api import EngineApi, EventsFollower
from dynos.runtimes.docker.attach import attach
from dynos.runtimes.docker.availability import last_check
from dynos.runtimes.docker.container import HOME_LABEL, ContainerPlan, plan_container
from dynos.runtimes.docker.dyno import DockerDyno
from dynos.runtimes.docker.engine import (
    CONTROL_THREADS,
    CONTROL_TIMEOUT,
    Engine,
    EngineError,
    connect_error,
    engine_error,
)
from dynos.runtimes.docker.leftovers import ADOPTION_GRACE, APP_SWEEP_DELAY, Leftover, Leftovers
from dynos.runtimes.docker.network import (
    NETWORK,
    Gate,
    NamespaceHelper,
    NetworkError,
    Relays,
    ensure_network,
    listen_by_setns,
    loopback_services,
)
from dynos.runtimes.process import free_port
from dynos.stack import choose_stack_image

log = logging.getLogger(__name__)

T = TypeVar("T")

NamespaceEntry = Literal["auto", "setns", "helper"]


class DockerRuntime:
    """Runs dynos as containers. Implements `dynos.runtimes.base.Runtime`."""

    name = "docker"

    def __init__(
        self, settings: Settings, *, engine: Engine | None = None, namespace_entry: NamespaceEntry = "auto"
    ):
        """`namespace_entry`: how relay sockets are made inside a container's namespace (see
        network.py): setns(2) by this daemon, a helper container, or setns when permitted."""
        self.settings = settings
        self.namespace_entry = namespace_entry
        self.run_root = settings.dynos_dir / "docker"  # one directory per dyno with a gate
        self.home_label = str(settings.home.expanduser().resolve())
        self.home_tag = hashlib.sha256(self.home_label.encode()).hexdigest()[:8]
        self.engine = engine or Engine.from_env()
        self.image: str | None = None
        self.image_reason = ""
        self.server_version = ""
        # what the selection check found (engine version, stack image), for `paas status`
        self.reason = last_check(self.engine, settings.stack_image)
        self.adopted = 0  # containers re-attached after a daemon restart
        self.removed_leftovers = 0  # containers of a previous daemon nobody claimed
        self._client: Any = None
        self._api: EngineApi | None = None
        self._events: list[EventsFollower] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(CONTROL_THREADS, thread_name_prefix="paas-docker")
        self._live: dict[str, DockerDyno] = {}
        self._ports: set[int] = set()
        self._leftovers = Leftovers()
        self._relays: dict[str, Relays] = {}  # container id -> the dyno's add-on relays
        self._gates: dict[str, Gate] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # events stream, sweeps
        self._removals: set[asyncio.Task[Any]] = set()  # background `docker rm` of ended dynos
        self._closing = False

    # ---- plumbing ------------------------------------------------------------------------
    async def _sdk(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    @property
    def api(self) -> EngineApi:
        assert self._api is not None, "prepare() first"
        return self._api

    @property
    def api_version(self) -> str:
        return self.api.api_version

    def _spawn_task(self, coro: Any, into: set[asyncio.Task[Any]]) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        into.add(task)
        task.add_done_callback(into.discard)

    # ---- lifecycle -----------------------------------------------------------------------
    async def prepare(self) -> None:
        """Connect, pick the stack image, start the events stream, find a previous daemon's dynos."""
        self._client = await self._sdk(self.engine.sdk_client)
        version = await self._sdk(self._client.version)
        self._api = EngineApi(self.engine, self._client.api.api_version)
        self.server_version = str(version.get("Version", ""))
        self.image, self.image_reason = await self._sdk(
            choose_stack_image, self._client, self.settings.stack_image, pull=False
        )
        self.reason = f"Docker {self.server_version}, {self.image_reason}"
        await self._sdk(ensure_network, self._client)
        # a dyno ends when its container dies (exit status) and its network is released (its
        # published port closed: the engine's proxy outlives the `die` event by a few ms)
        container_events = {"type": ["container"], "event": ["die", "oom"], **self._own_filter()}
        network_events = {"type": ["network"], "event": ["disconnect"], "network": [NETWORK]}
        self._events = [
            EventsFollower(self._api, container_events, self._dispatch, self._recheck_live),
            EventsFollower(self._api, network_events, self._dispatch_network, self._recheck_network),
        ]
        for follower in self._events:
            self._spawn_task(follower.run(), self._tasks)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in self._events)), CONTROL_TIMEOUT)
        for container_id in self._leftovers.load(await self.list_own()):
            await self._remove(container_id)
        self._ports |= self._leftovers.ports()
        await asyncio.to_thread(self._wipe_run_dirs, self._leftovers.names())
        if self._leftovers:
            self._spawn_task(self._sweep_after(ADOPTION_GRACE), self._tasks)

    async def close(self) -> None:
        self._closing = True
        for follower in self._events:
            follower.closing = True
        for dyno in list(self._live.values()):
            dyno.signal(signals.SIGKILL)
            await dyno.cleanup()
        await self.sweep_leftovers()
        for task in list(self._tasks):
            task.cancel()  # the events stream, delayed sweeps: everything of ours goes now anyway
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._removals:
            await asyncio.gather(*list(self._removals), return_exceptions=True)
        if self._client is not None:  # whatever is left of ours (a spawn cut short): no orphans
            with contextlib.suppress(Exception):
                for item in await self.list_own():
                    await self._remove(item["Id"])
        if self._api is not None:
            await self._api.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._sdk(self._client.close)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _wipe_run_dirs(self, keep: set[str]) -> None:
        """A previous daemon's gate directories, but those of containers it left running."""
        if not self.run_root.is_dir():
            return
        for child in self.run_root.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    # ---- ownership -----------------------------------------------------------------------
    def _own_filter(self, **more: str) -> dict[str, list[str]]:
        labels = [f"{HOME_LABEL}={self.home_label}"] + [f"{k}={v}" for k, v in more.items()]
        return {"label": labels}

    async def list_own(self, all_states: bool = True) -> list[dict[str, Any]]:
        """This daemon's containers (raw engine JSON), running or not."""
        result: list[dict[str, Any]] = await self._sdk(
            self._client.api.containers, all=all_states, filters=self._own_filter()
        )
        return result

    async def _sweep_after(self, delay: float, app: str | None = None) -> None:
        await asyncio.sleep(delay)
        await self.sweep_leftovers(app)

    async def sweep_leftovers(self, app: str | None = None) -> int:
        """Remove a previous daemon's containers that no dyno claimed (all, or one app's)."""
        unclaimed = self._leftovers.take(app)
        for leftover in unclaimed:
            if leftover.port is not None:
                self._ports.discard(leftover.port)
            await self._remove(leftover.id, Gate(self.run_root / leftover.name))
            self.removed_leftovers += 1
        return len(unclaimed)

    async def _remove(self, container_id: str, gate: Gate | None = None) -> None:
        try:
            await self._remove_container(container_id)
        finally:
            if gate is not None:
                await asyncio.to_thread(gate.remove)

    async def _remove_container(self, container_id: str) -> None:
        try:
            await self._sdk(self._client.api.remove_container, container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except RuntimeError:  # the runtime is closed: the next daemon's prepare() removes it
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                log.warning("could not remove container %s: %s", container_id[:12], engine_error(exc))
        except (docker.errors.DockerException, OSError) as exc:  # engine gone: prepare() reaps it later
            log.warning("could not remove container %s: %s", container_id[:12], connect_error(exc))

    # ---- spawning ------------------------------------------------------------------------
    fingerprint = staticmethod(container.fingerprint)

    def _image_for(self, spec: DynoSpec) -> str:
        if spec.docker_image:
            return spec.docker_image
        if spec.slug_dir is None:
            raise SpawnError(f"release v{spec.release} has no slug")
        if not spec.slug_dir.is_dir():
            raise SpawnError(f"the slug for release v{spec.release} is missing ({spec.slug_dir})")
        if self.image is None:
            raise SpawnError(self.image_reason)
        return self.image

    def adopts(self, spec: DynoSpec) -> bool:
        """Will `spawn(spec)` re-attach to a running container of a previous daemon?"""
        leftover = self._leftovers.peek(spec.app, spec.name)
        if leftover is None or spec.stdio != "log":
            return False
        try:
            return leftover.fingerprint == container.fingerprint(spec, self._image_for(spec))
        except SpawnError:
            return False

    async def spawn(self, spec: DynoSpec, output: OutputCallback) -> DockerDyno:
        if self._client is None:
            raise SpawnError("the Docker runtime is not prepared")
        image = self._image_for(spec)
        fingerprint = container.fingerprint(spec, image)
        leftover, sweep = self._leftovers.claim(spec.app, spec.name)
        if sweep:
            self._spawn_task(self._sweep_after(APP_SWEEP_DELAY, spec.app), self._tasks)
        if leftover is not None:
            if leftover.fingerprint == fingerprint and spec.stdio == "log":
                dyno = await self._adopt(spec, leftover, output)
                if dyno is not None:
                    return dyno
            if leftover.port is not None:
                self._ports.discard(leftover.port)
            # replaced by a new container: never two of one dyno
            await self._remove(leftover.id, Gate(self.run_root / leftover.name))
        return await self._create(spec, image, fingerprint, output)

    def _new_dyno(self, spec: DynoSpec, container_id: str, port: int | None, *, adopted: bool) -> DockerDyno:
        dyno = DockerDyno(self.api, spec, container_id, port, adopted=adopted, forget=self.forget)
        self._live[container_id] = dyno  # before start: its `die` event must find it
        return dyno

    async def _adopt(self, spec: DynoSpec, leftover: Leftover, output: OutputCallback) -> DockerDyno | None:
        dyno = self._new_dyno(spec, leftover.id, leftover.port, adopted=True)
        try:
            dyno.attach = await attach(
                self.engine, self.api_version, leftover.id, output, stdin=False, tty=False, merge=True
            )
        except (OSError, EngineError):
            self._live.pop(leftover.id, None)
            return None
        state = await self.api.inspect_state(leftover.id)
        if not state or not state.get("Running"):  # it died between prepare() and now
            dyno.attach.close()
            dyno.on_network_released()  # long since: before we listened for it
            dyno.on_die(
                int(state.get("ExitCode", 255)) if state else 255, bool(state and state.get("OOMKilled"))
            )
        else:
            dyno.set_pid(int(state.get("Pid") or 0) or None)
            dyno.start_stats()
            services = loopback_services(spec.env, leftover.port)
            if services:  # its relays died with the previous daemon
                gate = Gate(self.run_root / leftover.name)
                try:
                    await self._open_services(dyno, services, gate)
                except NetworkError as exc:
                    log.warning("adopted dyno %s %s has no add-on relays: %s", spec.app, spec.name, exc)
        self.adopted += 1
        return dyno

    async def _plan(
        self, spec: DynoSpec, image: str, fingerprint: str, port: int | None, gate: Gate | None
    ) -> ContainerPlan:
        image_config = None
        if gate is not None and spec.docker_image is not None:  # the gate goes before its entrypoint
            image_config = (await self._sdk(self._client.api.inspect_image, image)).get("Config")
        return plan_container(
            spec,
            image,
            home_label=self.home_label,
            name=gate.directory.name if gate is not None else self._name(spec),
            fingerprint=fingerprint,
            port=port,
            gate_dir=gate.directory if gate is not None else None,
            image_config=image_config,
        )

    def _name(self, spec: DynoSpec) -> str:
        return f"paas.{self.home_tag}.{spec.app}.{spec.name}.{secrets.token_hex(3)}"

    async def _create(
        self, spec: DynoSpec, image: str, fingerprint: str, output: OutputCallback
    ) -> DockerDyno:
        port = free_port(self._ports) if spec.wants_port else None
        if port is not None:
            self._ports.add(port)
        services = loopback_services(spec.env, port)
        gate = Gate(self.run_root / self._name(spec)) if services else None
        container_id: str | None = None
        try:
            if gate is not None:
                await asyncio.to_thread(gate.make)
            plan = await self._plan(spec, image, fingerprint, port, gate)
            container_id = await self._create_container(plan, spec)
            dyno = self._new_dyno(spec, container_id, port, adopted=False)
            dyno.attach = await attach(
                self.engine,
                self.api_version,
                container_id,
                output,
                stdin=plan.interactive,
                tty=plan.tty,
                merge=not plan.interactive,
            )
            await self._sdk(self._client.api.start, container_id)
            if gate is not None:
                self._gates[container_id] = gate  # removed with the container
        except (docker.errors.DockerException, EngineError, OSError) as exc:
            await self._undo_create(container_id, port, gate)
            raise _spawn_error(exc, image, spec.docker_image is None) from exc
        if plan.tty and not plan.from_slug:  # slug dynos set their size in boot_script()
            await self.api.resize(container_id, spec.tty_rows, spec.tty_cols)
        state = await self.api.inspect_state(container_id)
        if state and state.get("Pid"):
            dyno.set_pid(int(state["Pid"]))  # the container's PID 1 as the host sees it
        dyno.start_stats()
        if gate is not None:
            await self._open_or_undo(dyno, services, gate)
        return dyno

    async def _open_or_undo(self, dyno: DockerDyno, services: Mapping[int, str], gate: Gate) -> None:
        try:
            await self._open_services(dyno, services, gate)
        except NetworkError as exc:
            dyno.signal(signals.SIGKILL)
            await dyno.cleanup()
            raise SpawnError(f"could not give the dyno its add-on addresses: {exc}") from exc

    async def _open_services(self, dyno: DockerDyno, services: Mapping[int, str], gate: Gate) -> None:
        """Relays for the loopback services the dyno's config names, then open its gate."""
        ports = sorted(services)
        sockets = await self._listen_inside(dyno, ports)
        relays = Relays()
        await relays.start(
            [(sock, (services[port], port)) for sock, port in zip(sockets, ports, strict=True)]
        )
        self._relays[dyno.id] = relays
        self._gates[dyno.id] = gate
        gate.open()

    async def _listen_inside(self, dyno: DockerDyno, ports: list[int]) -> list[socket.socket]:
        if self.namespace_entry != "helper" and dyno.pid is not None:
            try:
                return await listen_by_setns(dyno.pid, ports)
            except PermissionError:
                if self.namespace_entry == "setns":
                    raise NetworkError(
                        "this daemon may not enter the container's network namespace"
                    ) from None
                self.namespace_entry = "helper"  # not privileged: the helper from now on
            except OSError as exc:
                raise NetworkError(f"listening inside the container failed: {exc}") from exc
        if self.image is None:
            raise NetworkError(f"no stack image for the namespace helper ({self.image_reason})")
        helper = NamespaceHelper(self._sdk, self._client, self.image, {HOME_LABEL: self.home_label})
        try:
            return await helper.listen(dyno.id, ports)
        except (docker.errors.DockerException, OSError, TimeoutError) as exc:
            raise NetworkError(f"the namespace helper failed: {connect_error(exc)}") from exc

    async def _create_container(self, plan: ContainerPlan, spec: DynoSpec) -> str:
        api = self._client.api
        created = await self._sdk(
            api.create_container,
            plan.image,
            plan.command,
            environment=plan.environment,
            labels=plan.labels,
            name=plan.name,
            working_dir=plan.working_dir,
            host_config=plan.host_config(api, spec),
            ports=plan.ports,
            entrypoint=plan.entrypoint,
            stdin_open=plan.interactive,  # with detach=False this also sets StdinOnce
            tty=plan.tty,
        )
        return str(created["Id"])

    async def _undo_create(self, container_id: str | None, port: int | None, gate: Gate | None) -> None:
        if container_id is not None:
            self._live.pop(container_id, None)
            await self._remove(container_id)
        if port is not None:
            self._ports.discard(port)
        if gate is not None:
            await asyncio.to_thread(gate.remove)

    async def forget(self, dyno: DockerDyno) -> None:
        """The dyno is over: release its port now and remove its container in the background
        (it has exited already; `docker rm` takes tens of ms the restart should not wait for)."""
        self._live.pop(dyno.id, None)
        if dyno.port is not None:
            self._ports.discard(dyno.port)
        relays = self._relays.pop(dyno.id, None)
        if relays is not None:
            await relays.close()
        self._spawn_task(self._remove(dyno.id, self._gates.pop(dyno.id, None)), self._removals)

    # ---- the engine's events -------------------------------------------------------------
    def _dispatch(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        dyno = self._live.get(str(actor.get("ID") or event.get("id") or ""))
        if dyno is None:
            return
        action = event.get("Action") or event.get("status")
        if action == "oom":
            dyno.on_oom()
        elif action == "die":
            code = (actor.get("Attributes") or {}).get("exitCode", "255")
            dyno.on_die(int(code) if str(code).lstrip("-").isdigit() else 255)

    def _dispatch_network(self, event: dict[str, Any]) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        dyno = self._live.get(str(attributes.get("container") or ""))
        if dyno is not None:
            dyno.on_network_released()

    async def _recheck_network(self) -> None:
        for dyno in list(self._live.values()):
            found = await self.api.inspect(dyno.id)
            networks = ((found or {}).get("NetworkSettings") or {}).get("Networks") or {}
            if found is None or (not (found.get("State") or {}).get("Running") and not networks):
                dyno.on_network_released()

    async def _recheck_live(self) -> None:
        for dyno in list(self._live.values()):
            state = await self.api.inspect_state(dyno.id)
            if state is None or not state.get("Running"):
                dyno.on_die(int((state or {}).get("ExitCode", 255)), bool(state and state.get("OOMKilled")))

    @property
    def live_count(self) -> int:
        return len(self._live)


def _spawn_error(exc: BaseException, image: str, from_slug: bool) -> SpawnError:
    """What the user sees (R99) when a container could not be created or started."""
    if isinstance(exc, docker.errors.ImageNotFound) and from_slug:
        return SpawnError(
            f"the stack image {image} is not on the engine any more; build it with `paas stack:build`"
        )
    if isinstance(exc, docker.errors.APIError):
        return SpawnError(f"could not start the container: {engine_error(exc)}")
    return SpawnError(
        f"could not start the container: the Docker engine does not answer ({connect_error(exc)})"
    )
