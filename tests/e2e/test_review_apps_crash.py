"""SIGKILL while a review app is being made (a real daemon process armed with a crash point, a
real `git push` of a branch): the next start destroys what exists of it (its half-made Postgres
database included), and the next push of the branch makes it anew."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from paas.addons.postgres import addon_names
from tests.e2e.test_crash_points import Running, daemon, pg_has
from tests.e2e.test_deploy_helpers import EXAMPLES
from tests.support.pg import admin_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APP_JSON = {"environments": {"review": {"addons": ["heroku-postgresql"]}}}


class Repo:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "src"
        shutil.copytree(EXAMPLES / "hello", self.dir)
        (self.dir / "app.json").write_text(json.dumps(APP_JSON))
        home = tmp_path / "git-home"
        home.mkdir()
        self.env = {
            "HOME": str(home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
            self.git(*args)

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=300
        )

    def push(self, d: Running, home: Path, ref: str) -> subprocess.CompletedProcess[str]:
        token = (home / "token").read_text().strip()
        port = d.api.base_url.port
        return self.git("push", f"http://paas:{token}@127.0.0.1:{port}/git/crash-staging.git", ref)


def databases() -> set[str]:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def addon_of(api: httpx.Client, app: str) -> str:
    [addon] = api.get(f"/apps/{app}/addons").json()
    return str(addon["name"])


@pytest.mark.parametrize("point", ["reviewapp.after_app", "addon.after_provision"])
def test_a_review_app_cut_short_is_destroyed_at_start_and_made_again(
    paas_home: Path, tmp_path: Path, point: str
) -> None:
    external = {"PAAS_POSTGRES_URL": admin_url()}
    repo = Repo(tmp_path)
    with daemon(paas_home, **external) as d:
        assert d.api.post("/apps", json={"name": "crash-staging"}).status_code == 201
        assert repo.push(d, paas_home, "main").returncode == 0
        assert d.api.post("/pipelines", json={"name": "crash"}).status_code == 201
        coupled = d.api.post("/pipeline-couplings", json={"pipeline": "crash", "app": "crash-staging"})
        assert coupled.status_code == 201, coupled.text
        enabled = d.api.post("/pipelines/crash/review-app-config", json={"automatic_review_apps": True})
        assert enabled.status_code == 201, enabled.text

    repo.git("checkout", "-q", "-b", "topic")
    before = databases()
    armed = Running(paas_home, point, **external)
    pushed = repo.push(armed, paas_home, "topic")
    assert pushed.returncode != 0  # the daemon died under the push
    assert armed.proc.proc.wait(60) == -signal.SIGKILL
    assert f"paas daemon: crash point {point} reached: SIGKILL" in armed.proc.output()
    armed.proc.log.close()
    # the add-on databases the crash left behind (not the platform's own event database)
    left = {name for name in databases() - before if re.fullmatch(r"d[0-9a-f]{13}", name)}
    assert bool(left) == (point == "addon.after_provision")

    with daemon(paas_home, **external) as d:
        assert not left & databases()  # dropped at start
        assert d.api.get("/review-apps").json() == []
        assert d.api.get("/apps/crash-topic").status_code == 404
        assert [a["name"] for a in d.api.get("/apps").json()] == ["crash-staging"]
        again = repo.push(d, paas_home, "topic")
        assert again.returncode == 0, again.stderr
        assert "Review app crash-topic is up" in again.stderr
        [review] = d.api.get("/review-apps").json()
        assert (review["app"]["name"], review["status"]) == ("crash-topic", "created")
        database, role = addon_names(addon_of(d.api, "crash-topic"))
        assert pg_has(database, role) == (True, True)
