"""The heroku-redis provider (Heroku Key-Value Store): one real redis-server per add-on.

Per add-on: a server on two loopback ports (plain and TLS, the certificate from the daemon's
local CA), the plan's `maxmemory` and `maxclients`, Heroku's defaults (`noeviction`, idle
timeout 300 s), append-only persistence, and the app's credentials in REDIS_URL and
REDIS_TLS_URL. One server per add-on (not one shared with ACL users) so the plan's memory and
connection limits are each server's own, enforced by redis-server itself.

Servers start when their add-on is created; at daemon start those of existing add-ons start in
the background or are adopted when an earlier daemon left them running (a SIGKILLed daemon);
they stop with the daemon and go, data and all, with their add-on. A server that dies while
the daemon runs is started again (unless it dies within seconds of starting: then the next
`redis:*` command or use tries, and says why it failed).

`instance.json` is the truth: every change is saved there first, then applied to the running
server, then to the app's config vars (a new release); a step a crash cut short is finished at
the next start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from common.ca import LocalCA
from common.config import LOOPBACK, Settings
from common.errors import invalid
from paas.addons.base import Provisioned
from paas.addons.kvs.admin import Live, admin
from paas.addons.kvs.instance import Instance, InstanceFiles, instance_names, new_password, utc_now
from paas.addons.kvs.plans import DEFAULT_PLAN, PLANS, check_policy, check_timeout
from paas.addons.kvs.server import (
    RedisUnavailable,
    ServerProcess,
    established_connections,
    free_port,
    port_is_free,
    redis_server_binary,
    running_pid,
    spawn,
)
from paas.state.db import Database
from paas.state.models import Addon

log = logging.getLogger("paas.redis")

SERVICE = "heroku-redis"
READY_TIMEOUT = 30.0  # a large append-only file takes a while to load
WARM_STARTS = 4  # servers started (or adopted) at once when the daemon starts
RESTART_AFTER = 5.0  # a server that ran this long and died is started again at once
CERT_NAME = "redis"
CERT_HOSTS = (LOOPBACK, "localhost")

# (add-on name, the provider's config vars): the add-on service renames them to the add-on's
# attachment and sets those that differ on the app (one new release, none when all are equal)
ConfigUpdater = Callable[[str, dict[str, str]], Awaitable[None]]


@dataclass
class _Managed:
    files: InstanceFiles
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    process: ServerProcess | None = None
    stopping: bool = False
    last_error: str = ""


@dataclass(frozen=True)
class Details:
    """What `redis:info` shows: the add-on's settings and what its server reports."""

    instance: Instance
    status: str
    connections: int
    live: Live | None
    note: str = ""


class KeyValueStoreProvider:
    """`AddonProvider` for heroku-redis, plus the operations behind `redis:*`."""

    service = SERVICE
    aliases = ("redis",)
    plans = tuple(PLANS)
    default_plan = DEFAULT_PLAN
    attachment = "REDIS"
    name_prefix = "redis"

    def __init__(self, settings: Settings, ca: LocalCA, db: Database, update_config: ConfigUpdater):
        self.root = settings.redis_dir
        self.ca = ca
        self.db = db
        self.update_config = update_config
        self._managed: dict[str, _Managed] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._warm_starts = asyncio.Semaphore(WARM_STARTS)
        self._closing = False

    # ---- daemon lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """At daemon start, before the API serves. Directories of add-ons that are not (or no
        longer, or never fully) provisioned are leftovers of an interrupted create or destroy:
        their servers stop and their files go. The others start, or are adopted, in the
        background: their apps expect REDIS_URL to answer."""
        provisioned = self._provisioned()
        for name in instance_names(self.root):
            if name in provisioned:
                self._background(self._warm(name))
            else:
                self._background(self._discard(name))

    def _provisioned(self) -> set[str]:
        with self.db.session() as s:
            query = select(Addon.name).where(Addon.service == SERVICE, Addon.state == "provisioned")
            return set(s.scalars(query))

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _warm(self, name: str) -> None:
        try:
            async with self._warm_starts:
                await self._ensure_running(name)
        except Exception as exc:
            log.warning("the Key-Value Store %s did not start: %s", name, exc)

    async def _discard(self, name: str) -> None:
        managed = self._entry(name)
        async with managed.lock:
            await self._stop_and_wipe(managed)
        self._managed.pop(name, None)
        log.info("removed the leftovers of the Key-Value Store %s (its add-on is gone)", name)

    async def stop(self) -> None:
        """Every server of this home stops (adopted ones and any not yet adopted too)."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop_one(name) for name in instance_names(self.root)))

    async def _stop_one(self, name: str) -> None:
        managed = self._entry(name)
        managed.stopping = True
        process = managed.process or await self._adopt(managed)
        if process is not None:
            await process.stop()

    # ---- AddonProvider ----------------------------------------------------------------------
    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned:
        if plan not in PLANS:
            raise invalid(
                f'Couldn\'t find either the add-on service or the add-on plan of "{SERVICE}:{plan}".'
            )
        redis_server_binary()  # fail before anything is made
        managed = self._entry(addon_name)
        async with managed.lock:
            await self._stop_and_wipe(managed)  # whatever an earlier add-on of this name left
            port = free_port()
            tls_port = _another_free_port(port)
            instance = Instance(
                addon_name, app, plan, port, tls_port, new_password(), new_password(), utc_now()
            )
            managed.files.save(instance)
            try:
                await self._start_server(managed, instance)
            except BaseException:
                await self._stop_and_wipe(managed)
                raise
        data = {"plan": plan, "host": LOOPBACK, "port": tls_port, "plain_port": port, "tls": True}
        return Provisioned(config=instance.config_vars(), provider_data=data)

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        """Idempotent: the server stops, its data and credentials go."""
        managed = self._entry(addon_name)
        async with managed.lock:
            await self._stop_and_wipe(managed)
        self._managed.pop(addon_name, None)

    # ---- what redis:* commands do -------------------------------------------------------------
    async def details(self, name: str) -> Details:
        try:
            instance = await self._ensure_running(name)
        except RedisUnavailable as exc:
            instance = self._load(self._entry(name))
            return Details(instance, f"unavailable: {exc.message}", 0, None)
        process = self._entry(name).process
        pid = process.pid if process is not None else 0
        connections = established_connections(pid, (instance.port, instance.tls_port))
        try:
            async with admin(instance) as a:
                live = await a.live()
        except RedisUnavailable as exc:
            return Details(instance, "available", connections, None, exc.message)
        return Details(instance, "available", live.connected_clients - 1, live)

    async def credentials(self, name: str) -> Instance:
        return await self._ensure_running(name)

    async def set_policy(self, name: str, policy: str) -> Instance:
        check_policy(policy)
        return await self._change(name, lambda i: dataclasses.replace(i, policy=policy))

    async def set_timeout(self, name: str, seconds: int) -> Instance:
        check_timeout(seconds)
        return await self._change(name, lambda i: dataclasses.replace(i, timeout=seconds))

    async def rotate_credentials(self, name: str) -> Instance:
        """A new password: the old one stops opening connections and those it opened are closed;
        the app gets the new URLs in a new release."""
        return await self._change(
            name, lambda i: dataclasses.replace(i, password=new_password(), config_pending=True)
        )

    # ---- the machinery -------------------------------------------------------------------------
    def _entry(self, name: str) -> _Managed:
        managed = self._managed.get(name)
        if managed is None:
            managed = self._managed[name] = _Managed(InstanceFiles(self.root, name))
        return managed

    def _load(self, managed: _Managed) -> Instance:
        instance = managed.files.load()
        if instance is None:
            raise RedisUnavailable(
                f"The files of {managed.files.name} are gone; destroy the add-on and create it again."
            )
        return instance

    async def _change(self, name: str, change: Callable[[Instance], Instance]) -> Instance:
        await self._ensure_running(name)
        managed = self._entry(name)
        async with managed.lock:
            before = self._load(managed)
            after = change(before)
            # connect first: a server that refuses paas (all connections in use) changes nothing
            async with admin(before) as a:
                await self._write(managed, after)
                await a.apply(after)
            if after.config_pending:
                after = await self._publish(managed, after)
        return after

    async def _write(self, managed: _Managed, instance: Instance) -> None:
        tls = await asyncio.to_thread(self.ca.server_files, CERT_NAME, CERT_HOSTS)
        managed.files.save(instance)
        managed.files.write_conf(instance, tls, self.ca.cert_path)

    async def _publish(self, managed: _Managed, instance: Instance) -> Instance:
        """The app's config vars follow the instance (a new release); then it is no longer pending."""
        await self.update_config(instance.name, instance.config_vars())
        instance = dataclasses.replace(instance, config_pending=False)
        managed.files.save(instance)
        return instance

    async def _ensure_running(self, name: str) -> Instance:
        managed = self._entry(name)
        async with managed.lock:
            instance = self._load(managed)
            if managed.process is None or not managed.process.alive:
                managed.process = await self._adopt(managed)
                if managed.process is None:
                    instance = await self._start_server(managed, instance)
                else:
                    log.info("adopted the running Key-Value Store %s (pid %s)", name, managed.process.pid)
                    await self._wait_ready(managed, instance)
                    async with admin(instance) as a:
                        await a.apply(instance)  # a change a crash cut short reaches the server
            if instance.config_pending:
                instance = await self._publish(managed, instance)
            return instance

    async def _adopt(self, managed: _Managed) -> ServerProcess | None:
        pid = await asyncio.to_thread(running_pid, managed.files)
        if pid is None:
            return None
        return ServerProcess(pid, None, lambda: self._exited(managed))

    async def _start_server(self, managed: _Managed, instance: Instance) -> Instance:
        if self._closing:  # a request that came in as the daemon stops must not leave a server
            raise RedisUnavailable("The paas daemon is stopping.")
        binary = redis_server_binary()
        instance = self._free_ports(instance)
        await self._write(managed, instance)
        managed.stopping = False
        popen = spawn(binary, managed.files)
        managed.process = ServerProcess(popen.pid, popen, lambda: self._exited(managed))
        await self._wait_ready(managed, instance)
        managed.last_error = ""
        log.info("started the Key-Value Store %s (pid %s)", instance.name, popen.pid)
        return instance

    def _free_ports(self, instance: Instance) -> Instance:
        """Another process took a port while the server was down: move, and the app's config
        vars follow (`config_pending`)."""
        port, tls_port = instance.port, instance.tls_port
        if not port_is_free(port):
            port = _another_free_port(tls_port)
        if not port_is_free(tls_port):
            tls_port = _another_free_port(port)
        if (port, tls_port) == (instance.port, instance.tls_port):
            return instance
        log.warning(
            "ports %s/%s of %s are taken; it moves to %s/%s",
            instance.port, instance.tls_port, instance.name, port, tls_port,
        )  # fmt: skip
        return dataclasses.replace(instance, port=port, tls_port=tls_port, config_pending=True)

    async def _wait_ready(self, managed: _Managed, instance: Instance) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            process = managed.process
            if process is None or not process.alive:
                tail = managed.files.log_tail()
                managed.last_error = tail
                raise RedisUnavailable(f"redis-server for {instance.name} exited at start: {tail}")
            try:
                async with admin(instance, connect_timeout=1.0):
                    return
            except RedisUnavailable as exc:  # not listening yet, or still loading its data
                if time.monotonic() > deadline:
                    await process.stop()
                    raise RedisUnavailable(
                        f"redis-server for {instance.name} did not answer within {READY_TIMEOUT:.0f} s"
                    ) from exc
            await asyncio.sleep(0.05)

    def _exited(self, managed: _Managed) -> None:
        """On the loop, when a watched server is gone."""
        process = managed.process
        if managed.stopping or self._closing or process is None:
            return
        ran = time.monotonic() - process.started
        tail = managed.files.log_tail(3)
        log.warning(
            "the Key-Value Store %s (pid %s) exited after %.0f s: %s",
            managed.files.name,
            process.pid,
            ran,
            tail,
        )
        if ran >= RESTART_AFTER:
            self._background(self._warm(managed.files.name))
        else:
            managed.last_error = tail

    async def _stop_and_wipe(self, managed: _Managed) -> None:
        managed.stopping = True
        process = managed.process if managed.process is not None and managed.process.alive else None
        process = process or await self._adopt(managed)
        if process is not None:
            await process.stop()
        managed.process = None
        await asyncio.to_thread(managed.files.remove)


def _another_free_port(other: int) -> int:
    while True:
        port = free_port()
        if port != other:
            return port
