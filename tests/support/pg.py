"""One embedded PostgreSQL per test session (per xdist worker), shared by the pg/dataclips tests.

Tests point their providers and daemons at it in external-URL mode (`PAAS_POSTGRES_URL`), so
each test gets fresh databases and roles in seconds instead of an initdb of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from common.config import Settings
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import database_url

_cluster: PostgresCluster | None = None


def shared_cluster() -> PostgresCluster:
    global _cluster
    if _cluster is None:
        home = Path(tempfile.mkdtemp(prefix="paas-pg-session-"))
        cluster = PostgresCluster(Settings(home=home))
        cluster.ensure_started()
        # a throw-away server: skip fsync so CREATE/DROP DATABASE checkpoints cost nothing
        with psycopg.connect(cluster.address.conninfo(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET full_page_writes = off")
            conn.execute("SELECT pg_reload_conf()")

        def cleanup() -> None:
            cluster.stop()
            shutil.rmtree(home, ignore_errors=True)

        atexit.register(cleanup)
        _cluster = cluster
    return _cluster


def admin_url() -> str:
    a = shared_cluster().address
    return database_url(a.host, a.port, a.user, a.password, "postgres")


@contextlib.contextmanager
def embedded_home() -> Iterator[Path]:
    """A PAAS_HOME for a test that runs its own embedded cluster.

    Not under tmp_path: pytest resets /tmp/pytest-of-<user> to 0700 whenever a session starts,
    and as root the server runs as the `pgserver` user, who must be able to reach its data.
    """
    home = Path(tempfile.mkdtemp(prefix="paas-pg-test-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)
