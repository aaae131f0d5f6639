"""The heroku-postgresql provider on real PostgreSQL: provisioning, isolation, reset, teardown."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from common.config import Settings
from paas.addons.postgres import PostgresProvider
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import conninfo_of
from tests.support.pg import admin_url, embedded_home

pytestmark = pytest.mark.postgres


@pytest.fixture
def provider(tmp_path: Path) -> PostgresProvider:
    return PostgresProvider(Settings(home=tmp_path, postgres_url=admin_url()))


async def test_provision_gives_a_working_database_url(provider: PostgresProvider) -> None:
    got = await provider.provision("shop", "postgresql-round-12345", "essential-0")
    url = got.config["DATABASE_URL"]
    assert url.startswith("postgres://u") and "@127.0.0.1:" in url
    data = got.provider_data
    assert data["database"] in url and data["user"] in url and data["plan"] == "essential-0"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total numeric)")
        await conn.execute("INSERT INTO orders (total) VALUES (9.5), (12)")
        row = await (
            await conn.execute("SELECT count(*), current_user, current_database() FROM orders")
        ).fetchone()
    assert row == (2, data["user"], data["database"])
    info = await provider.info(data)
    assert info["tables"] == 1 and info["connection_limit"] == 20 and info["pg_version"].startswith("16")
    await provider.deprovision("postgresql-round-12345", data)
    with pytest.raises(psycopg.OperationalError):
        await psycopg.AsyncConnection.connect(url)


async def test_one_apps_credentials_cannot_open_another_addons_database(provider: PostgresProvider) -> None:
    a = (await provider.provision("app-a", "postgresql-a-1", "essential-0")).provider_data
    b = (await provider.provision("app-b", "postgresql-b-2", "essential-1")).provider_data
    async with await psycopg.AsyncConnection.connect(conninfo_of(b), autocommit=True) as conn:
        await conn.execute("CREATE TABLE secrets (v text)")
        await conn.execute("INSERT INTO secrets VALUES ('b only')")
    for dbname in (b["database"], "postgres", "template1"):
        crossed = dict(a, database=dbname)
        with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{dbname}"'):
            await psycopg.AsyncConnection.connect(conninfo_of(crossed))
    # not a superuser either: cannot read the other database's tables by any route
    async with await psycopg.AsyncConnection.connect(conninfo_of(a), autocommit=True) as conn:
        flags = await (
            await conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
            )
        ).fetchone()
    assert flags == (False, False, False)
    for data in (a, b):
        await provider.deprovision("x", data)


async def test_reset_empties_the_database_and_keeps_the_credentials(provider: PostgresProvider) -> None:
    data = (await provider.provision("app", "postgresql-c-3", "essential-0")).provider_data
    async with await psycopg.AsyncConnection.connect(conninfo_of(data), autocommit=True) as conn:
        await conn.execute("CREATE TABLE t (a int)")
    await provider.reset(data)
    async with await psycopg.AsyncConnection.connect(conninfo_of(data), autocommit=True) as conn:
        tables = await (
            await conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        ).fetchone()
        await conn.execute("CREATE TABLE again (a int)")  # still the owner
    assert tables == (0,)
    await provider.deprovision("x", data)


async def test_plan_connection_limit_is_enforced(provider: PostgresProvider) -> None:
    data = (await provider.provision("app", "postgresql-d-4", "essential-0")).provider_data
    async with await psycopg.AsyncConnection.connect(admin_url(), autocommit=True) as admin:
        await admin.execute(f'ALTER ROLE "{data["user"]}" CONNECTION LIMIT 2')
    conns = [await psycopg.AsyncConnection.connect(conninfo_of(data)) for _ in range(2)]
    with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
        await psycopg.AsyncConnection.connect(conninfo_of(data))
    for c in conns:
        await c.close()
    await provider.deprovision("x", data)


@pytest.fixture
def own_home() -> Iterator[Path]:
    with embedded_home() as home:
        yield home


@pytest.mark.slow
def test_embedded_cluster_starts_lazily_stops_and_adopts(own_home: Path) -> None:
    tmp_path = own_home
    settings = Settings(home=tmp_path)
    cluster = PostgresCluster(settings)
    assert not cluster.running and not (tmp_path / "postgres").exists()  # nothing until first use
    try:
        address = asyncio.run(cluster.start())
        assert address.host == "127.0.0.1"
        assert (tmp_path / "postgres" / "data" / "PG_VERSION").exists()
        assert cluster.server_version().startswith("16")
        with psycopg.connect(address.conninfo(), autocommit=True) as conn:
            listen = conn.execute("SHOW listen_addresses").fetchone()
            sockets = conn.execute("SHOW unix_socket_directories").fetchone()
            platform = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'platform'").fetchone()
        assert listen == ("127.0.0.1",) and sockets == ("",) and platform == (1,)
        # a second daemon start (same home) finds the server it left running and adopts it
        again = PostgresCluster(settings)
        assert again.ensure_started().port == address.port
        again.stop()  # it did not start the server, so it leaves it running
        with psycopg.connect(address.conninfo(), autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(address.conninfo(), connect_timeout=2)
    # the credentials file is private to the daemon's user
    assert oct((tmp_path / "postgres" / "cluster.json").stat().st_mode & 0o777) == "0o600"
    if os.geteuid() == 0:  # as root the server runs as the unprivileged `pgserver` user
        import pwd

        owner = pwd.getpwuid((tmp_path / "postgres" / "data").stat().st_uid).pw_name
        assert owner == "pgserver"


def test_external_url_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = PostgresCluster(
        Settings(home=tmp_path, postgres_url=f"postgres://postgres:x@127.0.0.1:{port}/postgres")
    )
    with pytest.raises(Exception, match="Cannot reach the PostgreSQL server at PAAS_POSTGRES_URL"):
        cluster.ensure_started()
