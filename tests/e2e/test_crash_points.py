"""SIGKILL at every step of a multi-step change, then restart: the next start resolves what the
crash left. A real `paas daemon` process is armed with a named crash point
(`PAAS_ALLOW_CRASH_POINTS=1 PAAS_CRASH_POINT=<name>`) and kills itself there."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from paas.addons.postgres import addon_names
from tests.support.pg import admin_url
from tests.support.procs import PAAS, DaemonProcess, daemon_env

pytestmark = pytest.mark.slow  # two or three real daemon starts per test


class Running:
    def __init__(self, home: Path, crash: str | None = None, **env: str) -> None:
        if crash is not None:
            env = {**env, "PAAS_ALLOW_CRASH_POINTS": "1", "PAAS_CRASH_POINT": crash}
        self.crash = crash
        self.proc = DaemonProcess(home, **env)
        info = self.proc.wait_ready()
        token = (home / "token").read_text().strip()
        self.api = httpx.Client(
            base_url=str(info["api_url"]), headers={"Authorization": f"Bearer {token}"}, timeout=120
        )

    def crashes(self, call: Callable[[httpx.Client], Any]) -> None:
        """`call` makes the daemon reach its crash point: the request dies with the process."""
        with pytest.raises(httpx.TransportError):
            call(self.api)
        assert self.proc.proc.wait(30) == -signal.SIGKILL
        assert f"paas daemon: crash point {self.crash} reached: SIGKILL" in self.proc.output()
        self.proc.log.close()

    def stop(self) -> None:
        self.api.close()
        if self.proc.proc.poll() is None:
            assert self.proc.terminate() == 0


@contextmanager
def daemon(home: Path, crash: str | None = None, **env: str) -> Iterator[Running]:
    running = Running(home, crash, **env)
    try:
        yield running
    finally:
        running.stop()


def log_text(api: httpx.Client, app: str) -> str:
    return api.get(f"/apps/{app}/log-stream", params={"lines": 1500}).text


def tenants(api: httpx.Client) -> set[str]:
    return {t["tenant"] for t in api.get("/kafka/tenants").json()}


def release_app(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Procfile").write_text(
        "web: python -m http.server $PORT\nrelease: python -c \"print('release command ran')\"\n"
    )
    return src


# ---- the release phase ------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["release.after_pending", "release.before_finish"])
def test_a_release_phase_cut_short_fails_its_release_and_changes_nothing(
    paas_home: Path, tmp_path: Path, point: str
) -> None:
    with daemon(paas_home) as d:
        assert d.api.post("/apps", json={"name": "crashrel"}).status_code == 201
        deployed = d.proc.cli("deploy", str(release_app(tmp_path)), "-a", "crashrel", timeout=120)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert d.api.patch("/apps/crashrel/config-vars", json={"KEEP": "1"}).status_code == 200
        live = d.api.get("/apps/crashrel/releases").json()[-1]

    armed = Running(paas_home, point)
    armed.crashes(lambda api: api.patch("/apps/crashrel/config-vars", json={"NEW": "1"}))

    with daemon(paas_home) as d:
        assert d.api.get("/apps/crashrel/config-vars").json() == {"KEEP": "1"}
        releases = d.api.get("/apps/crashrel/releases").json()
        last = releases[-1]
        assert (last["version"], last["description"], last["status"]) == (
            live["version"] + 1,
            "Set NEW config vars",
            "failed",
        )
        assert [r["version"] for r in releases if r["current"]] == [live["version"]]
        assert not [r for r in releases if r["status"] == "pending"]
        detail = d.api.get(f"/apps/crashrel/releases/{last['version']}").json()
        assert "The paas daemon stopped while this release's command ran" in detail["output"]
        line = f"Release v{last['version']} failed: the paas daemon stopped during its release phase"
        assert line in log_text(d.api, "crashrel")
        # nothing stays locked or half made: the next change goes through
        again = d.api.patch("/apps/crashrel/config-vars", json={"NEW": "2"})
        assert again.status_code == 200 and again.json() == {"KEEP": "1", "NEW": "2"}


# ---- add-on create ----------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["addon.after_row", "addon.after_provision"])
def test_a_kafka_addon_cut_short_is_rolled_back(paas_home: Path, point: str) -> None:
    with daemon(paas_home, point) as armed:
        assert armed.api.post("/apps", json={"name": "crashkafka"}).status_code == 201
        armed.crashes(
            lambda api: api.post(
                "/apps/crashkafka/addons", json={"plan": "heroku-kafka", "name": "kafka-cut"}
            )
        )

    with daemon(paas_home) as d:
        assert d.api.get("/apps/crashkafka/addons").json() == []
        assert "kafka-cut" not in tenants(d.api)
        assert not [k for k in d.api.get("/apps/crashkafka/config-vars").json() if k.startswith("KAFKA")]
        line = "Add-on kafka-cut was rolled back: the paas daemon stopped while provisioning it"
        assert line in log_text(d.api, "crashkafka")
        made = d.api.post("/apps/crashkafka/addons", json={"plan": "heroku-kafka", "name": "kafka-cut"})
        assert made.status_code == 201, made.text  # the name is free again


def pg_has(database: str, role: str) -> tuple[bool, bool]:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        user = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return db is not None, user is not None


def test_a_postgres_addon_provisioned_but_not_attached_leaves_no_database(paas_home: Path) -> None:
    external = {"PAAS_POSTGRES_URL": admin_url()}
    database, role = addon_names("postgresql-cut")
    with daemon(paas_home, "addon.after_provision", **external) as armed:
        assert armed.api.post("/apps", json={"name": "crashpg"}).status_code == 201
        armed.crashes(
            lambda api: api.post(
                "/apps/crashpg/addons", json={"plan": "heroku-postgresql", "name": "postgresql-cut"}
            )
        )
    assert pg_has(database, role) == (True, True)  # the crash left a database nobody knows of

    with daemon(paas_home, **external) as d:
        assert d.api.get("/apps/crashpg/addons").json() == []
        assert "DATABASE_URL" not in d.api.get("/apps/crashpg/config-vars").json()
    assert pg_has(database, role) == (False, False)


# ---- add-on destroy ---------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["addon.after_detach", "addon.after_deprovision"])
def test_an_addon_destroy_cut_short_is_finished(paas_home: Path, point: str) -> None:
    with daemon(paas_home, point) as armed:
        assert armed.api.post("/apps", json={"name": "crashdetach"}).status_code == 201
        made = armed.api.post("/apps/crashdetach/addons", json={"plan": "heroku-kafka", "name": "kafka-gone"})
        assert made.status_code == 201, made.text
        assert "KAFKA_URL" in armed.api.get("/apps/crashdetach/config-vars").json()
        armed.crashes(lambda api: api.delete("/apps/crashdetach/addons/kafka-gone"))

    with daemon(paas_home) as d:
        assert d.api.get("/apps/crashdetach/addons").json() == []
        assert "kafka-gone" not in tenants(d.api)
        assert not [k for k in d.api.get("/apps/crashdetach/config-vars").json() if k.startswith("KAFKA")]
        descriptions = [r["description"] for r in d.api.get("/apps/crashdetach/releases").json()]
        assert descriptions[-1] == "Detach KAFKA (kafka-gone)"


# ---- app destroy ------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["app.after_mark_destroying", "app.after_addons"])
def test_an_app_destroy_cut_short_is_finished_at_start(paas_home: Path, tmp_path: Path, point: str) -> None:
    with daemon(paas_home, point) as armed:
        assert armed.api.post("/apps", json={"name": "crashapp"}).status_code == 201
        src = tmp_path / "src"
        src.mkdir()
        (src / "Procfile").write_text("web: python -m http.server $PORT\n")
        deployed = armed.proc.cli("deploy", str(src), "-a", "crashapp", timeout=120)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        made = armed.api.post("/apps/crashapp/addons", json={"plan": "heroku-kafka", "name": "kafka-app"})
        assert made.status_code == 201, made.text
        slugs = paas_home / "slugs" / "crashapp"
        assert slugs.is_dir() and any(slugs.iterdir())
        armed.crashes(lambda api: api.delete("/apps/crashapp"))

    with daemon(paas_home) as d:
        assert d.api.get("/apps/crashapp").status_code == 404
        assert "crashapp" not in [a["name"] for a in d.api.get("/apps").json()]
        assert "kafka-app" not in tenants(d.api)
        assert not slugs.exists() or not any(slugs.iterdir())  # its slugs went with it
        assert d.api.post("/apps", json={"name": "crashapp"}).status_code == 201  # the name is free


# ---- the setting itself -----------------------------------------------------------------------
def test_crash_points_are_ignored_unless_allowed(paas_home: Path) -> None:
    with daemon(paas_home, PAAS_CRASH_POINT="addon.after_row") as d:
        assert d.api.post("/apps", json={"name": "nocrash"}).status_code == 201
        made = d.api.post("/apps/nocrash/addons", json={"plan": "heroku-kafka"})
        assert made.status_code == 201 and d.proc.proc.poll() is None


def test_an_unknown_crash_point_refuses_to_start(paas_home: Path) -> None:
    env = daemon_env(paas_home, PAAS_ALLOW_CRASH_POINTS="1", PAAS_CRASH_POINT="release.nowhere")
    r = subprocess.run([PAAS, "daemon"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "PAAS_CRASH_POINT=release.nowhere is not a crash point" in r.stderr
    assert "Traceback" not in r.stderr
