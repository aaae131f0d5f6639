"""The heroku-postgresql add-on: one database and one role per add-on on a real PostgreSQL.

By default the server is an embedded cluster built from the `pgserver` wheel's binaries,
initialised and started lazily under `settings.postgres_dir` the first time something needs it,
listening on 127.0.0.1 only (TCP, so dynos in containers with host networking reach it too) with
password authentication for everyone. With `PAAS_POSTGRES_URL` the add-ons live on that server
instead (the URL's role needs CREATEDB and CREATEROLE).

Isolation follows Heroku's: each add-on's database is owned by its own role, and CONNECT is
revoked from PUBLIC, so one app's credentials cannot open another add-on's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common.config import LOOPBACK, Settings
from common.errors import PaasError, invalid
from common.events import EventBus
from paas.addons.base import Provisioned

if TYPE_CHECKING:
    from paas.dataclips.platform import PlatformRecorder

log = logging.getLogger("paas.postgres")

SERVICE = "heroku-postgresql"
ALIASES = ("postgres", "postgresql", "heroku-postgres")
PLATFORM_DB = "platform"
SYSTEM_USER = "pgserver"  # the OS user the server runs as when the daemon runs as root
START_TIMEOUT = 60


@dataclass(frozen=True)
class Plan:
    name: str
    connections: int
    storage_gb: int


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("essential-0", 20, 1),
        Plan("essential-1", 20, 10),
        Plan("essential-2", 40, 32),
        Plan("standard-0", 120, 64),
        Plan("standard-2", 400, 256),
        Plan("premium-0", 120, 64),
    )
}
DEFAULT_PLAN = "essential-0"


class PostgresUnavailable(PaasError):
    def __init__(self, message: str):
        super().__init__(503, "postgres_unavailable", message)


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"

    def conninfo(self, dbname: str | None = None, **extra: Any) -> str:
        return make_conninfo(
            host=self.host,
            port=str(self.port),
            user=self.user,
            password=self.password,
            dbname=dbname or self.dbname,
            connect_timeout="10",
            **extra,
        )


def database_url(host: str, port: int, user: str, password: str, dbname: str) -> str:
    """Heroku's DATABASE_URL shape: postgres://user:password@host:port/dbname"""
    return (
        f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(dbname, safe='')}"
    )


def parse_server_url(url: str) -> ServerAddress:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise PostgresUnavailable(f"PAAS_POSTGRES_URL must be a postgres:// URL, not {url!r}")
    return ServerAddress(
        host=parts.hostname or LOOPBACK,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=unquote(parts.path.lstrip("/")) or "postgres",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as PostgreSQL binds (SO_REUSEADDR): connections of the previous run lingering in
        # TIME_WAIT must not make the cluster move port and break every app's DATABASE_URL
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def addon_names(addon_name: str) -> tuple[str, str]:
    """(database, role) of an add-on, derived from its unique name: a provisioning cut short by a
    crash, before its provider data was stored, is found and rolled back from the name alone."""
    digest = hashlib.sha256(addon_name.encode()).hexdigest()[:13]
    return "d" + digest, "u" + digest


def pg_bin_dir() -> Path:
    """The server binaries inside the pgserver wheel (found without importing it: its import
    registers atexit hooks and warns about XDG_RUNTIME_DIR)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("The pgserver wheel is not installed; set PAAS_POSTGRES_URL instead.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", name], check=True
        )


def _open_path_to_others(path: Path) -> None:
    """Let the server's user traverse every directory above `path` (o+x, g+x)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXGRP | stat.S_IXOTH
        if wanted != mode:
            parent.chmod(wanted)


def _make_readable_tree(root: Path) -> None:
    if not root.exists():
        return
    for dirpath, _dirs, files in os.walk(root):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | 0o055)
        for name in files:
            f = d / name
            if not f.is_symlink():
                f.chmod(f.stat().st_mode | 0o044 | (0o011 if f.stat().st_mode & 0o100 else 0))


class PostgresCluster:
    """The server the add-ons live on: embedded (started lazily) or external (by URL).

    `ensure_started()` is blocking and thread-safe; async callers use `await start()`.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.external = settings.postgres_url is not None
        self.dir = settings.postgres_dir
        self.data_dir = self.dir / "data"
        self.state_file = self.dir / "cluster.json"
        self.log_file = self.data_dir / "server.log"
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._address: ServerAddress | None = None
        self._we_started = False
        self.started_callbacks: list[Any] = []  # called (no args) once the server is reachable

    # ---- public ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._address is not None

    @property
    def address(self) -> ServerAddress:
        if self._address is None:
            raise PostgresUnavailable("The PostgreSQL server has not been started yet.")
        return self._address

    @property
    def platform_db(self) -> str:
        """The platform database's real name (namespaced on a shared external server)."""
        if not self.external:
            return PLATFORM_DB
        import hashlib

        digest = hashlib.sha1(str(self.settings.home.resolve()).encode()).hexdigest()[:10]
        return f"paas_platform_{digest}"

    async def start(self) -> ServerAddress:
        if self._address is not None:
            return self._address
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            if self._address is None:
                await asyncio.to_thread(self.ensure_started)
                for callback in list(self.started_callbacks):
                    try:
                        callback()
                    except Exception:  # a listener's bug must not fail provisioning
                        log.exception("postgres started-callback failed")
        return self.address

    def ensure_started(self) -> ServerAddress:
        with self._lock:
            if self._address is None:
                self._address = self._start_external() if self.external else self._start_embedded()
                self._prepare_server(self._address)
            return self._address

    def stop(self) -> None:
        """Stop the embedded server if this process started it (never an external one)."""
        with self._lock:
            if self._address is None or self.external:
                self._address = None
                return
            self._address = None
            if self._we_started:
                self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "30"], check=False)
                self._we_started = False

    def connect_admin(self, dbname: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(self.address.conninfo(dbname), autocommit=True)

    async def connect_admin_async(self, dbname: str | None = None) -> psycopg.AsyncConnection[Any]:
        address = await self.start()
        return await psycopg.AsyncConnection.connect(address.conninfo(dbname), autocommit=True)

    def server_version(self) -> str:
        with self.connect_admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"

    # ---- external ----------------------------------------------------------------------
    def _start_external(self) -> ServerAddress:
        assert self.settings.postgres_url is not None
        address = parse_server_url(self.settings.postgres_url)
        try:
            with psycopg.connect(address.conninfo(), autocommit=True):
                pass
        except psycopg.Error as e:
            raise PostgresUnavailable(f"Cannot reach the PostgreSQL server at PAAS_POSTGRES_URL: {e}") from e
        return address

    # ---- embedded ----------------------------------------------------------------------
    def _run_as(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _bin(self, name: str) -> str:
        return str(pg_bin_dir() / name)

    def _pg_ctl(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self._bin("pg_ctl"), "-D", str(self.data_dir), *args]
        # output to a file, not a pipe: the postmaster inherits it and would hold a pipe open
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                cmd, stdout=out, stderr=out, text=True, user=self._run_as(), timeout=START_TIMEOUT
            )
            out.seek(0)
            result.stdout = out.read()[-2000:]
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl {args[0]} failed (exit {result.returncode}): {result.stdout.strip()}"
            )
        return result

    def _load_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def _start_embedded(self) -> ServerAddress:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        state = self._load_state()
        if not (self.data_dir / "PG_VERSION").exists():
            state = self._initdb()
        port = int(state["port"])
        if self._pg_ctl(["status"], check=False).returncode == 0:
            log.info("adopting the running embedded PostgreSQL on port %s", port)
        else:
            if not _port_is_free(port):
                # another process took our port while we were down: move, and say so
                new_port = _free_port()
                log.warning("port %s is taken; the embedded PostgreSQL moves to %s", port, new_port)
                port = new_port
                state["port"] = port
                self._save_state(state)
                self._write_conf(port)
            if self._run_as() is not None:  # someone may have tightened a parent since initdb
                _open_path_to_others(self.data_dir)
            result = self._pg_ctl(
                ["start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file)], check=False
            )
            if result.returncode != 0:
                tail = ""
                with contextlib.suppress(OSError):
                    tail = self.log_file.read_text()[-2000:]
                raise PostgresUnavailable(
                    f"The embedded PostgreSQL did not start (pg_ctl exit {result.returncode}): "
                    f"{result.stdout.strip()} {tail.strip()}".strip()
                )
            self._we_started = True
        address = ServerAddress(LOOPBACK, port, "postgres", str(state["password"]))
        self._wait_ready(address)
        return address

    def _wait_ready(self, address: ServerAddress) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with psycopg.connect(address.conninfo(), autocommit=True):
                    return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"The embedded PostgreSQL does not answer: {e}") from e
                time.sleep(0.1)

    def _initdb(self) -> dict[str, Any]:
        run_as = self._run_as()
        if self.data_dir.exists():  # a half-made data dir from an interrupted initdb
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        password = secrets.token_hex(24)
        pwfile = self.dir / ".pwfile"
        pwfile.write_text(password + "\n")
        if run_as is not None:
            self._prepare_system_user(pwfile)
        try:
            with open(os.devnull, "w") as devnull:
                subprocess.run(
                    [
                        self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
                    ],
                    check=True, stdout=devnull, stderr=subprocess.PIPE, text=True, user=run_as,
                    timeout=START_TIMEOUT,
                )  # fmt: skip
        except subprocess.CalledProcessError as e:
            raise PostgresUnavailable(f"initdb failed: {e.stderr.strip()}") from e
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write("\ninclude_if_exists = 'paas.conf'\n")
        port = _free_port()
        state: dict[str, Any] = {"port": port, "password": password}
        self._write_conf(port)
        self._save_state(state)
        return state

    def _write_conf(self, port: int) -> None:
        text = (
            "# written by paas: loopback TCP only, no unix socket\n"
            f"listen_addresses = '{LOOPBACK}'\n"
            f"port = {port}\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            # a simulator: losing the last few commits on a crash is fine, corruption is not
            "synchronous_commit = off\n"
            "log_min_messages = warning\n"
        )
        path = self.data_dir / "paas.conf"
        path.write_text(text)
        if self._run_as() is not None:
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)

    def _prepare_system_user(self, pwfile: Path) -> None:
        """Postgres refuses to run as root: run it as an unprivileged user, as pgserver does."""
        _ensure_system_user(SYSTEM_USER)
        bin_dir = pg_bin_dir()
        for path in (self.data_dir, bin_dir):
            _open_path_to_others(path)
        for tree in (bin_dir, bin_dir.parent / "lib", bin_dir.parent / "share"):
            _make_readable_tree(tree)
        shutil.chown(self.data_dir, SYSTEM_USER, SYSTEM_USER)
        shutil.chown(pwfile, SYSTEM_USER, SYSTEM_USER)

    def _prepare_server(self, address: ServerAddress) -> None:
        """One-time hardening: app roles may connect only to their own database."""
        with psycopg.connect(address.conninfo(), autocommit=True) as conn:
            if not self.external:
                for db in ("postgres", "template1"):
                    conn.execute(
                        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                            sql.Identifier(db)
                        )
                    )
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.platform_db,)
            ).fetchone()
            if exists is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.platform_db)))
                conn.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                        sql.Identifier(self.platform_db)
                    )
                )


class PostgresProvider:
    """`AddonProvider` for heroku-postgresql."""

    service = SERVICE
    aliases = ALIASES
    plans = tuple(PLANS)
    default_plan = DEFAULT_PLAN
    attachment = "DATABASE"
    name_prefix = "postgresql"

    def __init__(
        self, settings: Settings, bus: EventBus | None = None, cluster: PostgresCluster | None = None
    ):
        self.settings = settings
        self.cluster = cluster or PostgresCluster(settings)
        self.platform: PlatformRecorder | None = None
        if bus is not None:
            from paas.dataclips.platform import PlatformRecorder

            self.platform = PlatformRecorder(bus, self.cluster)
        self._warm_start: asyncio.Task[Any] | None = None
        if not self.cluster.external and (self.cluster.data_dir / "PG_VERSION").exists():
            # Add-ons made by an earlier daemon: their apps expect DATABASE_URL to answer, so a
            # cluster that exists starts with the daemon (in the background); a new one stays lazy.
            with contextlib.suppress(RuntimeError):  # no running loop: first use starts it
                self._warm_start = asyncio.get_running_loop().create_task(self._start_quietly())

    async def _start_quietly(self) -> None:
        try:
            await self.cluster.start()
        except Exception as e:
            log.warning("the embedded PostgreSQL did not start: %s", e)

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned:
        if plan not in PLANS:
            raise invalid(
                f'Couldn\'t find either the add-on service or the add-on plan of "{SERVICE}:{plan}".'
            )
        address = await self.cluster.start()
        dbname, user = addon_names(addon_name)
        password = secrets.token_hex(32)
        limit = PLANS[plan].connections
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT {}"
                ).format(sql.Identifier(user), sql.Literal(password), sql.Literal(limit))
            )
            try:
                await self._create_database(conn, dbname, user)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
                raise
        data = {
            "host": address.host,
            "port": address.port,
            "database": dbname,
            "user": user,
            "password": password,
            "plan": plan,
            "external": self.cluster.external,
            "app": app,
        }
        return Provisioned(config={"DATABASE_URL": url_of(data)}, provider_data=data)

    async def _create_database(self, conn: psycopg.AsyncConnection[Any], dbname: str, owner: str) -> None:
        await conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )
        await conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
        await conn.execute(
            sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        """Idempotent; with no provider data (provisioning was cut short) the derived names go."""
        derived = addon_names(addon_name)
        dbname = provider_data.get("database") or derived[0]
        user = provider_data.get("user") or derived[1]
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))

    async def reset(self, provider_data: dict[str, Any]) -> None:
        """pg:reset: an empty database under the same name and credentials."""
        dbname, user = provider_data["database"], provider_data["user"]
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            await self._create_database(conn, dbname, user)

    async def info(self, provider_data: dict[str, Any]) -> dict[str, Any]:
        """What pg:info shows, measured on the server."""
        dbname = provider_data["database"]
        plan = PLANS.get(str(provider_data.get("plan")), PLANS[DEFAULT_PLAN])
        conn = await self.cluster.connect_admin_async()
        async with conn:
            version = (await (await conn.execute("SHOW server_version")).fetchone() or ["?"])[0]
            row = await (
                await conn.execute(
                    "SELECT pg_database_size(%s), (SELECT count(*) FROM pg_stat_activity WHERE datname = %s)",
                    (dbname, dbname),
                )
            ).fetchone()
        size, connections = row or (0, 0)
        tables = 0
        with contextlib.suppress(psycopg.Error):
            async with await self.connect_app_async(provider_data) as app_conn:
                trow = await (
                    await app_conn.execute(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
                    )
                ).fetchone()
                tables = int(trow[0]) if trow else 0
        return {
            "plan": plan.name,
            "status": "Available",
            "connections": int(connections),
            "connection_limit": plan.connections,
            "pg_version": str(version).split()[0],
            "data_size": int(size),
            "storage_limit": plan.storage_gb * 1024**3,
            "tables": tables,
            "database": dbname,
        }

    async def connect_app_async(
        self, provider_data: dict[str, Any], **extra: Any
    ) -> psycopg.AsyncConnection[Any]:
        """A connection with the add-on's own credentials (what the app itself would use)."""
        await self.cluster.start()
        return await psycopg.AsyncConnection.connect(conninfo_of(provider_data, **extra), autocommit=True)

    async def stop(self) -> None:
        if self._warm_start is not None and not self._warm_start.done():
            with contextlib.suppress(BaseException):
                await self._warm_start
        if self.platform is not None:
            await self.platform.stop()
        await asyncio.to_thread(self.cluster.stop)


def url_of(provider_data: dict[str, Any]) -> str:
    d = provider_data
    return database_url(
        str(d["host"]), int(d["port"]), str(d["user"]), str(d["password"]), str(d["database"])
    )


def conninfo_of(provider_data: dict[str, Any], **extra: Any) -> str:
    d = provider_data
    return make_conninfo(
        host=str(d["host"]),
        port=str(d["port"]),
        user=str(d["user"]),
        password=str(d["password"]),
        dbname=str(d["database"]),
        connect_timeout="10",
        **extra,
    )
