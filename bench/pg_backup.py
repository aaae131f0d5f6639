"""Benchmark: `paas pg:backups:capture` against the same `pg_dump -Fc` run by hand.

Starts a real daemon (`paas daemon`, throw-away PAAS_HOME, free ports, embedded PostgreSQL or
--postgres-url), provisions a heroku-postgresql add-on, loads N rows, then times per round:

  capture      POST /client/v11/databases/<addon>/backups, then the transfer polled every 50 ms
               until it has finished (the daemon runs pg_dump -Fc as the add-on's owner, streams
               its output into PAAS_HOME/pgbackups with fsync, renames it, applies retention);
  pg_dump -Fc  the binary the daemon uses, by hand, with the same credentials, to a file.

    .venv/bin/python bench/pg_backup.py [--rows 200000] [--rounds 5] [--postgres-url URL]

Prints medians and the ratio capture / pg_dump; both archives are listed with pg_restore --list
and their tables of contents compared.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from daemon_env import daemon_env


def start_daemon(home: Path, postgres_url: str | None) -> tuple[subprocess.Popen[bytes], str, str]:
    env = daemon_env(home)
    env.pop("PAAS_POSTGRES_URL", None)
    if postgres_url:
        env["PAAS_POSTGRES_URL"] = postgres_url
    exe = Path(sys.executable).with_name("paas")
    log = open(home / "daemon.log", "wb")  # noqa: SIM115  (lives as long as the daemon)
    proc = subprocess.Popen([str(exe), "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited: {(home / 'daemon.log').read_text()[-2000:]}")
        try:
            info = json.loads((home / "daemon.json").read_text())
            return proc, str(info["api_url"]), (home / "token").read_text().strip()
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the daemon did not start within 60 s")


def load_rows(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, app text, path text, "
            "status int, note text)"
        )
        conn.execute(
            "INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 second', "
            "'app-' || (g %% 17), '/items/' || g, 200 + (g %% 5) * 100, md5(g::text) "
            "FROM generate_series(1, %s) g",
            (rows,),
        )


def timed_capture(api: httpx.Client, addon: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    t = api.post(f"/client/v11/databases/{addon}/backups").json()
    while True:
        got = api.get(f"/client/v11/apps/bench/transfers/{t['num']}").json()
        if got["finished_at"]:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if not got["succeeded"]:
        raise SystemExit(f"capture failed: {got['error']}")
    return elapsed, dict(got)


def timed_pg_dump(pg_dump: str, url: str, out: Path) -> float:
    parts = urlsplit(url)
    env = dict(os.environ, PGPASSWORD=parts.password or "")
    conninfo = (
        f"host={parts.hostname} port={parts.port} user={parts.username} dbname={parts.path.lstrip('/')}"
    )
    started = time.perf_counter()
    subprocess.run([pg_dump, "-Fc", "-d", conninfo, "-f", str(out)], check=True, env=env)
    return time.perf_counter() - started


def toc(pg_restore: str, archive: Path) -> list[str]:
    listing = subprocess.run([pg_restore, "--list", str(archive)], check=True, capture_output=True, text=True)
    return [
        line.split(" ", 1)[1] for line in listing.stdout.splitlines() if line and not line.startswith(";")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=os.environ.get("PAAS_POSTGRES_URL"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="paas-bench-pgbackup-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        proc, api_url, token = start_daemon(home, args.postgres_url)
        try:
            api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
            api.post("/apps", json={"name": "bench"}).raise_for_status()
            addon = api.post("/apps/bench/addons", json={"plan": "heroku-postgresql:standard-0"})
            addon.raise_for_status()
            name = addon.json()["name"]
            url = api.get("/apps/bench/config-vars").json()["DATABASE_URL"]
            t0 = time.perf_counter()
            load_rows(url, args.rows)
            print(f"loaded {args.rows:,} rows in {time.perf_counter() - t0:.2f} s; add-on {name}")
            _, first = timed_capture(api, name)  # warm up; also finds the tools the daemon uses
            info = api.get(
                f"/client/v11/apps/bench/transfers/{first['num']}", params={"verbose": "true"}
            ).json()
            bin_dir = tools_dir(args.postgres_url, url)
            pg_dump, pg_restore = str(bin_dir / "pg_dump"), str(bin_dir / "pg_restore")
            timed_pg_dump(pg_dump, url, Path(tmp) / "warmup.dump")
            captures, dumps = [], []
            for r in range(args.rounds):
                t_capture, done = timed_capture(api, name)
                t_dump = timed_pg_dump(pg_dump, url, Path(tmp) / f"hand{r}.dump")
                captures.append(t_capture)
                dumps.append(t_dump)
                print(f"round {r + 1}: capture {t_capture * 1000:7.1f} ms   pg_dump -Fc {t_dump * 1000:7.1f} ms   "
                      f"({done['processed_bytes']:,} vs {(Path(tmp) / f'hand{r}.dump').stat().st_size:,} bytes)")  # fmt: skip
            archive = next((home / "pgbackups").glob("*/*.dump"))
            same = toc(pg_restore, archive) == toc(pg_restore, Path(tmp) / "hand0.dump")
            m_capture, m_dump = statistics.median(captures), statistics.median(dumps)
            print(
                f"\n{args.rows:,} rows, source {info['source_bytes'] / 1e6:.1f} MB; medians of {args.rounds} rounds:"
            )
            print(f"  pg:backups:capture  {m_capture * 1000:8.1f} ms")
            print(f"  pg_dump -Fc by hand {m_dump * 1000:8.1f} ms")
            print(
                f"ratio capture / pg_dump = {m_capture / m_dump:.2f}×; tables of contents identical: {same}"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def tools_dir(postgres_url: str | None, url: str) -> Path:
    """The directory of the binaries the daemon picks for this server (same rule, same code)."""
    from common.config import Settings
    from paas.postgres.cluster import PostgresCluster
    from paas.postgres.dumps import find_tools

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    major = int(row[0]) // 10000 if row else 0
    cluster = PostgresCluster(Settings(home=Path(tempfile.gettempdir()), postgres_url=postgres_url))
    return Path(find_tools(cluster, major).pg_dump).parent


if __name__ == "__main__":
    main()
