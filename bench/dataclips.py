"""Benchmark: a 100,000-row dataclip exported as CSV through its share link, against `psql \\copy`.

Starts a real daemon (`paas daemon`, throw-away PAAS_HOME, free ports, embedded PostgreSQL or
--postgres-url), provisions a heroku-postgresql add-on, loads N rows, makes a clip of
`SELECT * FROM events ORDER BY id`, then times per round:

  share CSV (cold)  GET /dataclips/<slug>.csv right after a save (no cached result): the daemon
                    opens a read-only transaction and streams COPY ... TO STDOUT to the client;
  share CSV (warm)  the same link again within the minute (served from the result cache);
  psql \\copy       /usr/bin/psql "$DATABASE_URL" -c "\\copy (same query) TO file CSV HEADER".

    .venv/bin/python bench/dataclips.py [--rows 100000] [--rounds 5] [--postgres-url URL]

Prints medians and the ratio share-link / psql (target: within 2×). Both outputs are compared
byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from daemon_env import daemon_env

QUERY = "SELECT * FROM events ORDER BY id"


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
            "status int, service_ms int, amount numeric(12,2), note text)"
        )
        conn.execute(
            "INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 second', "
            "'app-' || (g %% 17), '/items/' || g || '?page=' || (g %% 9), 200 + (g %% 5) * 100, g %% 997, "
            "(g %% 10000) / 100.0, md5(g::text) FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("ANALYZE events")


def timed_get(client: httpx.Client, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    chunks = []
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            response.read()
            raise SystemExit(f"GET {url}: {response.status_code} {response.text[:300]}")
        for chunk in response.iter_bytes(256 * 1024):
            chunks.append(chunk)
    return time.perf_counter() - started, b"".join(chunks)


def timed_psql(psql: str, url: str, out: Path) -> tuple[float, bytes]:
    command = f"\\copy ({QUERY}) TO '{out}' WITH (FORMAT csv, HEADER)"
    started = time.perf_counter()
    subprocess.run([psql, url, "-X", "-q", "-c", command], check=True)
    elapsed = time.perf_counter() - started
    return elapsed, out.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=os.environ.get("PAAS_POSTGRES_URL"))
    parser.add_argument("--psql", default=shutil.which("psql") or "/usr/bin/psql")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="paas-bench-dataclips-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        proc, api, token = start_daemon(home, args.postgres_url)
        try:
            api_client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=600)
            api_client.post("/apps", json={"name": "bench"}).raise_for_status()
            addon = api_client.post("/apps/bench/addons", json={"plan": "heroku-postgresql"})
            addon.raise_for_status()
            name = addon.json()["name"]
            url = api_client.get("/apps/bench/config-vars").json()["DATABASE_URL"]
            t0 = time.perf_counter()
            load_rows(url, args.rows)
            print(f"loaded {args.rows:,} rows in {time.perf_counter() - t0:.2f} s; add-on {name}")
            clip = api_client.post(
                "/dataclips/api/clips", json={"title": "bench", "addon": name, "sql": QUERY}
            )
            clip.raise_for_status()
            clip_id = clip.json()["id"]
            link = api_client.post(f"/dataclips/api/clips/{clip_id}/share").json()["csv_url"]

            anon = httpx.Client(timeout=600)  # the share link needs no credentials
            timed_get(anon, link)  # warm up connections and the server's plan cache
            timed_psql(args.psql, url, Path(tmp) / "warmup.csv")
            cold, warm, psql = [], [], []
            reference = b""
            for r in range(args.rounds):
                # a save with a changed comment makes a new version: the cached result is dropped
                sql = f"{QUERY} -- round {r}"
                api_client.patch(f"/dataclips/api/clips/{clip_id}", json={"sql": sql}).raise_for_status()
                t_cold, body = timed_get(anon, link)
                t_warm, body_warm = timed_get(anon, link)
                t_psql, reference = timed_psql(args.psql, url, Path(tmp) / f"psql{r}.csv")
                if body != reference or body_warm != reference:
                    raise SystemExit("the share link's CSV differs from psql's \\copy output")
                cold.append(t_cold)
                warm.append(t_warm)
                psql.append(t_psql)
                print(f"round {r + 1}: share cold {t_cold * 1000:7.1f} ms   share warm {t_warm * 1000:7.1f} ms   "
                      f"psql \\copy {t_psql * 1000:7.1f} ms")  # fmt: skip
            size = len(reference)
            m_cold, m_warm, m_psql = (statistics.median(x) for x in (cold, warm, psql))
            print(
                f"\n{args.rows:,} rows, {size / 1e6:.1f} MB CSV, identical bytes; medians of {args.rounds} rounds:"
            )
            print(f"  share link CSV, cold   {m_cold * 1000:8.1f} ms  ({size / m_cold / 1e6:6.1f} MB/s)")
            print(f"  share link CSV, cached {m_warm * 1000:8.1f} ms  ({size / m_warm / 1e6:6.1f} MB/s)")
            print(f"  psql \\copy             {m_psql * 1000:8.1f} ms  ({size / m_psql / 1e6:6.1f} MB/s)")
            ratio = m_cold / m_psql
            verdict = "within" if ratio <= 2.0 else "NOT within"
            print(f"ratio share-link (cold) / psql \\copy = {ratio:.2f}×  ({verdict} the 2× target)")
            print(f"ratio share-link (cached) / psql \\copy = {m_warm / m_psql:.2f}×")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
