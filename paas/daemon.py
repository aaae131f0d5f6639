"""The composition root: builds every part, wires them to the bus, starts and stops them in order.

Start order: home + lock + token → state (migrations) → listening sockets → add-on providers
(Postgres, the Key-Value Store, the Kafka broker) → runtime and dyno manager → the control
plane's services (releases, builds, app setups, pipelines, teardown, dataclips) → router → API →
reconcile every app.
Stop order is the reverse; dynos get SIGTERM, their grace, then SIGKILL, while the add-ons they
use are still up. Every part we ship is imported here: a broken install fails at start, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import gc
import json
import os
import secrets
import signal
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
import uvloop

from common.ca import local_ca
from common.config import LOOPBACK, Settings
from common.crashpoints import POINTS, armed
from common.errors import StartupError
from common.events import Event, EventBus
from common.loghub import LogHub
from common.private import secure_home
from dynos.manager import DynoManager
from dynos.runtimes.select import RuntimeUnavailable, choose_runtime
from dynos.stackimages import StackImages
from paas.addons.base import AddonProvider
from paas.addons.kafka import KafkaProvider
from paas.addons.kvs.provider import KeyValueStoreProvider
from paas.addons.pgbackups.links import Links
from paas.addons.pgbackups.schedules import Schedules
from paas.addons.pgbackups.service import BackupService
from paas.addons.postgres import PostgresProvider
from paas.addons.scheduler import SchedulerProvider
from paas.addons.service import AddonService
from paas.api.app import create_api
from paas.api.attach import AttachTickets
from paas.api.deps import Services
from paas.api.rendezvous import Rendezvous
from paas.autoscale.service import AutoscaleService
from paas.builds.appsetup import AppSetups
from paas.builds.pipelines import PipelineService
from paas.builds.reviewapps import ReviewApps
from paas.builds.service import BuildService
from paas.certs import CertService
from paas.control import ControlPlane
from paas.control.events import (
    AppCreated,
    AppDestroyed,
    AppUpdated,
    FormationChanged,
    ReleaseCreated,
    payload,
)
from paas.control.releases import ReleasePath
from paas.control.values import RouteInfo
from paas.dataclips.platform import PlatformRecorder
from paas.dataclips.service import DataclipsService
from paas.kafka.service import KafkaService
from paas.logs.drains import DrainService
from paas.metrics.scrape import Scraper
from paas.metrics.service import MetricsService
from paas.postgres.cluster import PostgresCluster, traversed_by_server
from paas.scheduler.service import SchedulerService
from paas.state.db import Database
from paas.teardown import AppTeardown
from paas.webhooks.service import WebhookService
from router import runs_compiled
from router.certstore import CertStore
from router.faults import FaultRegistry
from router.fleet import RouterFleet
from router.fleet.sockets import reserve_port
from router.metrics import bus_publisher
from router.table import AppRoute, Backend, RouteTable

Stop = Callable[[], Awaitable[None]]


# the names the API's and the rendezvous's TLS certificates carry: what clients dial
TLS_NAMES = (LOOPBACK, "localhost")


class _Server(uvicorn.Server):
    """uvicorn inside our loop: the daemon owns signal handling, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_loopback(port: int, what: str, env: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} for the {what} is already in use on {LOOPBACK}; stop what uses it or set {env}"
            ) from None
        raise StartupError(f"cannot listen on {LOOPBACK}:{port} for the {what}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def reserve_router_port(port: int, workers: int, what: str, env: str) -> socket.socket:
    """A router port: listening here (router_workers=0), or reserved for router processes."""
    if workers == 0:
        return bind_loopback(port, what, env)
    try:
        return reserve_port(LOOPBACK, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} for the {what} is already in use on {LOOPBACK}; stop what uses it or set {env}"
            ) from None
        raise StartupError(f"cannot listen on {LOOPBACK}:{port} for the {what}: {exc.strerror}") from None


class Reconciler:
    """Serialises dyno reconciliation per app and coalesces bursts of changes."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self._dirty: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}

    def schedule(self, app: str) -> None:
        self._dirty.add(app)
        if app not in self._running:
            self._running[app] = asyncio.create_task(self._loop(app))

    async def _loop(self, app: str) -> None:
        try:
            while app in self._dirty:
                self._dirty.discard(app)
                try:
                    await self.daemon.apply_app(app)
                except Exception as exc:
                    self.daemon.report_internal_error(exc)
        finally:
            self._running.pop(app, None)

    async def idle(self) -> None:
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)


class Daemon:
    """Owns every part. Parts that need the running loop or a chosen runtime are built in
    `start`; after it returns each is there with its real type (a missing one failed the start)."""

    dynos: DynoManager
    route_table: RouteTable
    router: RouterFleet
    certs: CertService
    kafka: KafkaService
    postgres: PostgresProvider
    pg_cluster: PostgresCluster
    platform_events: PlatformRecorder
    redis: KeyValueStoreProvider
    releases: ReleasePath
    addons: AddonService
    builds: BuildService
    setups: AppSetups
    pipelines: PipelineService
    reviewapps: ReviewApps
    teardown: AppTeardown
    dataclips: DataclipsService
    metrics: MetricsService
    drains: DrainService
    webhooks: WebhookService
    scheduler: SchedulerService
    autoscale: AutoscaleService
    pgbackups: BackupService
    pgbackup_schedules: Schedules
    services: Services

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bus = EventBus()
        self.ca = local_ca(settings)
        self.logs = LogHub(self.bus)
        self.db = Database(settings.state_url)
        self.control = ControlPlane(settings, self.db, self.bus, self.logs)
        self.faults = FaultRegistry()
        self.attach = AttachTickets()
        self.reconciler = Reconciler(self)
        self.token = ""
        self.api_port = settings.api_port
        self.router_port = settings.router_port
        self.router_tls_port = settings.router_tls_port
        self.runtime_name = "none"
        self.runtime_reason = ""
        self.started_at = 0.0
        self.internal_errors = 0
        self.stopping = asyncio.Event()
        self._lock_fd: int | None = None
        self._apis: list[tuple[_Server, asyncio.Task[None]]] = []  # plain, then TLS
        self.api_tls_port = settings.api_tls_port
        self._stops: list[Stop] = []  # each started part's stop, undone in reverse order
        self._unlisten: list[Callable[[], None]] = []
        self._route_meta: dict[str, RouteInfo] = {}

    # ---- start --------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        secure_home(
            s.home, traversed_by_server(s), lambda line: print(f"paas daemon: {line}", file=sys.stderr)
        )
        self._take_lock()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        point = armed()
        if point is not None and point not in POINTS:
            raise StartupError(f"PAAS_CRASH_POINT={point} is not a crash point: {', '.join(sorted(POINTS))}")
        self.bus.bind_loop(asyncio.get_running_loop())
        self.token = self._load_token()
        await asyncio.to_thread(self.ca.ensure)
        await asyncio.to_thread(self.db.migrate)
        api_sock = bind_loopback(s.api_port, "API", "PAAS_API_PORT")
        api_tls_sock = bind_loopback(s.api_tls_port, "API over TLS", "PAAS_API_TLS_PORT")
        rendezvous_sock = bind_loopback(s.rendezvous_port, "rendezvous (heroku run)", "PAAS_RENDEZVOUS_PORT")
        workers = s.router_workers
        router_sock = reserve_router_port(s.router_port, workers, "router", "PAAS_ROUTER_PORT")
        router_tls_sock = reserve_router_port(
            s.router_tls_port, workers, "router's TLS port", "PAAS_ROUTER_TLS_PORT"
        )
        self.api_port = api_sock.getsockname()[1]
        self.api_tls_port = api_tls_sock.getsockname()[1]
        self.router_port = router_sock.getsockname()[1]
        self.router_tls_port = router_tls_sock.getsockname()[1]
        self.control.urls.api = self.api_url
        self.control.urls.router_port = self.router_port

        # Add-on services come up before the dynos that use them, and go down after them.
        self._start_postgres()
        self._start_redis()
        await self._start_kafka()
        await self._start_dynos()
        self._build_control_plane()
        self._start_metrics()
        await self._resolve_interrupted()
        await self._start_observers()
        await self._start_router(router_sock, router_tls_sock)
        await self._start_rendezvous(rendezvous_sock)
        self.services = self._services()
        await self._start_api(api_sock)
        await self._start_api(api_tls_sock, tls=True)
        self._wire()
        self._start_clocks()
        self.started_at = time.time()
        self._write_daemon_file()
        for app in self.control.app_names():
            self.reconciler.schedule(app)
        self.refresh_routes()

    def _start_clocks(self) -> None:
        """The scheduler's and the autoscaler's loops, once the API serves; they stop before
        the dynos they start or scale."""
        self.scheduler.start()
        self._stops.append(self.scheduler.stop)
        self.autoscale.start()
        self._stops.append(self.autoscale.stop)

    def _take_lock(self) -> None:
        fd = os.open(self.settings.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StartupError(
                f"a paas daemon is already running for PAAS_HOME={self.settings.home} (pid {pid})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _load_token(self) -> str:
        path = self.settings.token_path
        if path.exists():
            token = path.read_text().strip()
            if token:
                os.chmod(path, 0o600)
                return token
        token = secrets.token_hex(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

    def _start_postgres(self) -> None:
        """One PostgreSQL server (started lazily) for the add-ons and the platform's router events."""
        self.pg_cluster = PostgresCluster(self.settings)
        self.platform_events = PlatformRecorder(self.bus, self.pg_cluster)
        self.postgres = PostgresProvider(self.settings, self.pg_cluster)
        self._stops.append(self._stop_postgres)

    async def _stop_postgres(self) -> None:
        await self.postgres.stop()
        await self.platform_events.stop()  # writes what is buffered while the server still runs
        await asyncio.to_thread(self.pg_cluster.stop)

    def _start_redis(self) -> None:
        async def update_config(addon: str, config: dict[str, str]) -> None:
            await self.addons.update_config_vars(addon, config)  # built with the control plane

        self.redis = KeyValueStoreProvider(self.settings, self.ca, self.db, update_config)
        self.redis.start()
        self._stops.append(self.redis.stop)

    async def _start_kafka(self) -> None:
        self.kafka = KafkaService(self.settings, self.bus, self.ca)
        await self.kafka.start()
        self._stops.append(self.kafka.stop)

    async def _start_dynos(self) -> None:
        try:
            runtime, reason = await choose_runtime(self.settings)
        except RuntimeUnavailable as exc:
            raise StartupError(str(exc)) from None
        self.runtime_name, self.runtime_reason = runtime.name, reason
        self.dynos = DynoManager(self.settings, self.bus, self.logs, runtime)
        await self.dynos.start()
        self._stops.append(self.dynos.shutdown)

    def _build_control_plane(self) -> None:
        """The services over the parts: releases, add-ons, builds, app setups, pipelines,
        teardown, dataclips."""
        control, report = self.control, self.report_internal_error
        self.releases = ReleasePath(control.store, self.bus, self.logs, self.dynos, report)
        self.scheduler = SchedulerService(self.settings, control, self.dynos, report)
        self.autoscale = AutoscaleService(self.settings, control, self.bus, self.logs, report)
        providers: list[AddonProvider] = [
            self.postgres,
            self.redis,
            KafkaProvider(self.kafka),
            SchedulerProvider(self.scheduler),
        ]
        self.addons = AddonService(control, self.releases, providers, report)
        self.builds = BuildService(control, self.releases.release_slug)
        self.setups = AppSetups(control, self.addons, self.builds, self.releases, report)
        self.pipelines = PipelineService(control, self.releases)
        self.teardown = AppTeardown(
            control.store, self.bus, self.logs, self.dynos, self.addons, self.builds, report
        )
        self.reviewapps = ReviewApps(
            control,
            self.pipelines,
            self.addons,
            self.builds,
            self.setups,
            self.releases,
            self.teardown.destroy,
            report,
        )
        self.dataclips = DataclipsService(
            self.db, self.settings, self.pg_cluster, self.platform_events, token=lambda: self.token
        )
        links = Links(self.token, self.api_url, self.settings.pg_backup_url_ttl)
        self.pgbackups = BackupService(self.settings, self.db, self.pg_cluster, links, report)
        self.pgbackup_schedules = Schedules(self.pgbackups, report)

    def _start_metrics(self) -> None:
        """Listening on the bus before the router routes: the first request is counted."""
        self.metrics = MetricsService(self.settings, self.bus, self.dynos, self.control.app_names)
        self.metrics.start()
        self._stops.append(self.metrics.stop)

    async def _resolve_interrupted(self) -> None:
        """What a daemon killed part way left: releases stuck in their release phase fail,
        builds stuck pending fail, half-made add-ons are rolled back and half-destroyed ones
        finished, apps being destroyed are destroyed, review apps cut short in their making or
        destroying are destroyed. Before the API takes a request."""
        self.releases.resolve_interrupted()
        self.builds.resolve_interrupted()
        await self.addons.resolve_interrupted()
        await self.teardown.resume()
        await self.reviewapps.resolve_interrupted()
        self.reviewapps.start()
        self._stops.append(self.reviewapps.stop)
        self.pgbackups.start()  # backups a killed daemon left running are marked failed
        self.pgbackup_schedules.start()
        self._stops.append(self._stop_pgbackups)

    async def _stop_pgbackups(self) -> None:
        await self.pgbackup_schedules.stop()
        await self.pgbackups.stop()

    async def _start_observers(self) -> None:
        """Log drains and app webhooks: they read the bus, before anything routes or deploys."""
        self.drains = DrainService(self.control.store, self.bus, self.logs, self.ca, self.settings)
        await self.drains.start()
        self._stops.append(self.drains.stop)
        self.webhooks = WebhookService(self.control, self.bus, self.ca, self.settings)
        await self.webhooks.start()
        self._stops.append(self.webhooks.stop)

    async def _start_router(self, sock: socket.socket, tls_sock: socket.socket) -> None:
        """The router processes (router.fleet) on the plain and the TLS port: they get the route
        table, the fault registry (faults: router/faults) and the certificates the control
        plane issues (paas.certs) as data, and send back their records and log lines."""
        self.route_table = RouteTable()
        self.router = RouterFleet(
            self.route_table,
            self.settings,
            self.faults,
            self.logs.router_line,
            bus_publisher(self.bus),
            notice=lambda text: print(f"paas daemon: {text}", file=sys.stderr, flush=True),
        )
        self.certs = CertService(self.settings, self.ca, self.control, self.router.certs_changed)
        store = CertStore(await asyncio.to_thread(self.certs.default_paths))
        self.router.certs = store
        await self.certs.refresh()
        self._stops.append(self.router.stop)
        self.dynos.route_barrier = self.router.synced
        await self.router.start(sock, tls_sock, store)
        self.certs.start()
        self._stops.append(self.certs.stop)

    async def _start_rendezvous(self, sock: socket.socket) -> None:
        context = await asyncio.to_thread(self.ca.server_context, "rendezvous", TLS_NAMES)
        self.rendezvous = Rendezvous(self.attach, self.dynos, context, self.report_internal_error)
        await self.rendezvous.start(sock)
        self._stops.append(self.rendezvous.stop)

    def _services(self) -> Services:
        return Services(
            settings=self.settings,
            token=self.token,
            api_url=self.api_url,
            bus=self.bus,
            logs=self.logs,
            ca=self.ca,
            control=self.control,
            releases=self.releases,
            teardown=self.teardown,
            addons=self.addons,
            postgres=self.postgres,
            pgbackups=self.pgbackups,
            pgbackup_schedules=self.pgbackup_schedules,
            redis=self.redis,
            builds=self.builds,
            setups=self.setups,
            pipelines=self.pipelines,
            reviewapps=self.reviewapps,
            dynos=self.dynos,
            stack=StackImages(self.settings),
            attach=self.attach,
            rendezvous=self.rendezvous,
            api_tls_url=self.api_tls_url,
            router=self.router,
            certs=self.certs,
            faults=self.faults,
            kafka=self.kafka,
            dataclips=self.dataclips,
            metrics=self.metrics,
            scrape=Scraper(self.metrics, self.dynos, self.logs, self.bus, self.kafka),
            drains=self.drains,
            webhooks=self.webhooks,
            scheduler=self.scheduler,
            autoscale=self.autoscale,
            status=self.status,
            report_error=self.report_internal_error,
        )

    async def _start_api(self, sock: socket.socket, tls: bool = False) -> None:
        """The API on `sock`; with `tls`, the same API over TLS with the local CA's certificate
        (git over https and the data API, where Heroku's clients insist on https)."""
        files = await asyncio.to_thread(self.ca.server_files, "api", TLS_NAMES) if tls else None
        config = uvicorn.Config(
            create_api(self.services),
            ssl_certfile=str(files.cert_path) if files else None,
            ssl_keyfile=str(files.key_path) if files else None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            loop="none",
            http="httptools",
            ws="auto",
        )
        server = _Server(config)
        self._apis.append((server, asyncio.create_task(server.serve(sockets=[sock]))))
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)

    def _write_daemon_file(self) -> None:
        info = {
            "pid": os.getpid(),
            "api_url": self.api_url,
            "api_tls_url": self.api_tls_url,
            "rendezvous_port": self.rendezvous.port,
            "ca_path": str(self.ca.cert_path),
            "router_port": self.router_port,
            "router_tls_port": self.router_tls_port,
            "kafka_port": self.kafka.port,
            "home": str(self.settings.home),
            "runtime": self.runtime_name,
            "started_at": self.started_at,
        }
        tmp = self.settings.daemon_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(self.settings.daemon_file)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def api_tls_url(self) -> str:
        return f"https://{LOOPBACK}:{self.api_tls_port}"

    # ---- wiring -------------------------------------------------------------------------
    def _wire(self) -> None:
        changes = ["release.created", "formation.changed", "app.created", "app.updated", "app.destroyed"]
        self._unlisten.append(self.bus.listen(changes, self._on_change))
        self._unlisten.append(self.bus.listen(["dyno.state"], self._on_dyno_state))
        self._unlisten.append(self.bus.listen(["app.destroyed"], self._forget_faults))
        self._unlisten.append(self.bus.listen(["app.destroyed"], lambda _e: self.pgbackups.remove_orphans()))

    def _on_change(self, event: Event) -> None:
        change = payload(event)
        if change is None:
            return
        self.certs.changed()  # apps and domains decide which certificates exist
        if isinstance(change, AppDestroyed):
            self.route_table.remove(change.app)
            return
        features = isinstance(change, AppUpdated) and change.features is not None
        if features or isinstance(change, ReleaseCreated | FormationChanged | AppCreated):
            self.reconciler.schedule(change.app)
        self.refresh_routes(change.app)

    def _on_dyno_state(self, event: Event) -> None:
        # synchronous on purpose: a dyno leaves the table before it is signalled
        if event.app is not None:
            self._push_route(event.app)

    def _forget_faults(self, event: Event) -> None:
        if event.app is not None:
            self.faults.clear(event.app)

    def refresh_routes(self, app: str | None = None) -> None:
        """Re-read what the state database says about routing (maintenance, releases, domains,
        web quantity) and push the affected apps' routes. Runs on app/release/formation changes."""
        infos = self.control.route_info()
        self._route_meta = {info.name: info for info in infos}
        self.route_table.set_domains({host: info.name for info in infos for host in info.domains})
        for name in [app] if app is not None else list(self._route_meta):
            self._push_route(name)

    def _push_route(self, name: str) -> None:
        """One app's route from cached metadata plus the dyno manager's in-memory states: the
        per-dyno-event path, so it never touches the database."""
        info = self._route_meta.get(name)
        if info is None:
            return
        web = [d for d in self.dynos.dynos(name) if d.type == "web"]
        self.route_table.update(
            AppRoute(
                name=name,
                maintenance=info.maintenance,
                released=info.released,
                web_quantity=info.web_quantity,
                backends=[Backend(d.name, d.host, d.port) for d in web if d.state == "up" and d.port],
                booting=sum(1 for d in web if d.state == "starting"),
                crashed=sum(1 for d in web if d.state == "crashed"),
                keepalive="http-routing-2-dot-0" in info.features,
            )
        )

    async def apply_app(self, app: str) -> None:
        try:
            desired = self.control.desired(app)
        except Exception:
            await self.dynos.remove_app(app)  # the app is gone
            return
        await self.dynos.apply(desired)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "home": str(self.settings.home),
            "api_url": self.api_url,
            "api_tls_url": self.api_tls_url,
            "rendezvous_port": self.rendezvous.port,
            "ca_path": str(self.ca.cert_path),
            "router_port": self.router_port,
            "router_url": f"http://<app>.localhost:{self.router_port}/",
            "router_tls_port": self.router_tls_port,
            "router_https_url": f"https://<app>.localhost:{self.router_tls_port}/",
            "router_tls": self.router.tls_metrics(),
            "router_workers": self.settings.router_workers,
            "kafka_port": self.kafka.port,
            "runtime": self.runtime_name,
            "runtime_reason": self.runtime_reason,
            "apps": len(self.control.app_names()),
            "uptime": round(time.time() - self.started_at, 1) if self.started_at else 0,
            "internal_errors": self.internal_errors,
            "events_published": self.bus.published,
        }

    def report_internal_error(self, exc: BaseException) -> None:
        self.internal_errors += 1
        print("paas daemon: internal error (kept serving):", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

    # ---- stop ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """Reverse start order: the API stops taking requests, the router stops routing, dynos
        get SIGTERM (their grace, then SIGKILL), then Kafka and the add-on providers go."""
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten.clear()
        for server, _task in self._apis:
            server.should_exit = True
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                await stop()
        if self._apis:
            await asyncio.wait([task for _server, task in self._apis], timeout=5)
        with contextlib.suppress(Exception):
            self.db.dispose()
        if self.started_at:
            with contextlib.suppress(FileNotFoundError):
                self.settings.daemon_file.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


async def serve(settings: Settings, ready: Callable[[Daemon], None] | None = None) -> int:
    daemon = Daemon(settings)
    try:
        await daemon.start()
    except StartupError as exc:
        print(f" ›   Error: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stopping.set)
    router_build = "compiled" if runs_compiled() else "interpreted: python -m router.compile"
    print(
        f"paas daemon ready: API {daemon.api_url}  router http://<app>.localhost:{daemon.router_port}/ "
        f"https://<app>.localhost:{daemon.router_tls_port}/ ({router_build})  runtime {daemon.runtime_name} ({daemon.runtime_reason})  home {settings.home}",
        file=sys.stderr,
        flush=True,
    )
    if ready is not None:
        ready(daemon)
    await daemon.stopping.wait()
    print("paas daemon: stopping (dynos get SIGTERM)...", file=sys.stderr, flush=True)
    await daemon.stop()
    return 0


def run(settings: Settings) -> int:
    return uvloop.run(serve(settings, ready=_tune_gc))


def _tune_gc(_daemon: Daemon) -> None:
    """Once everything is imported and started: the cyclic GC stops rescanning that heap.

    Every routed request allocates a few dozen short-lived objects; with the default
    threshold (700) the collector runs every few dozen requests and walks the daemon's large
    long-lived heap (SQLAlchemy, FastAPI, ...): measured, a tenth of the daemon's samples and
    192 → 149 µs of CPU per new-connection request once frozen.
    Frozen objects are never scanned (nor freed by the GC: they are the daemon's own, kept
    for its lifetime); young garbage is still collected, in larger batches.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
