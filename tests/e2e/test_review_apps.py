"""Review apps for real: a pipeline with review apps enabled, a real `git push paas <branch>`
makes `<pipeline>-<branch>` from the branch's app.json (`environments.review`: a real Postgres
add-on, config, postdeploy), the router answers for it with the branch's content, the next push
updates it (postdeploy not rerun), and destroying it (pr-predestroy first) makes the router answer
404 no-such-app and drops its database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from paas.addons.postgres import addon_names
from tests.e2e.test_deploy_helpers import GitApp, api_lines, fetch, serving
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APP_JSON = {
    "name": "shop",
    "env": {"GREETING": {"value": "Hello from the base app.json"}, "HEROKU_APP_NAME": {"required": True}},
    "scripts": {"postdeploy": "echo seeded $HEROKU_APP_NAME", "pr-predestroy": "echo goodbye $GREETING"},
    "environments": {
        "review": {
            "env": {"GREETING": "Reviewing the login page"},
            "addons": ["heroku-postgresql"],
            "formation": {"web": {"quantity": 1}},
        }
    },
}


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


def has_database(database: str) -> bool:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is not None
        )


def shop(daemon: DaemonThread, tmp_path: Path) -> GitApp:
    """`shop-staging` deployed from main, in pipeline `shop`, review apps on (autodeploy)."""
    app = GitApp(daemon, tmp_path, "shop-staging")
    app.commit("app.json", {"app.json": json.dumps(APP_JSON)})
    assert app.push().returncode == 0
    created = daemon.cli("pipelines:create", "shop", "-a", "shop-staging")
    assert created.returncode == 0, created.stderr
    enabled = daemon.cli("pipelines:review-apps:enable", "--autodeploy", "--autodestroy", "-p", "shop")
    assert enabled.returncode == 0, enabled.stderr
    assert "Enabling review apps on shop pipeline... done" in enabled.stderr
    assert "Automatic review apps:     on" in enabled.stdout
    return app


def review_apps(daemon: DaemonThread) -> list[dict[str, Any]]:
    with daemon.client() as c:
        return c.get("/pipelines/shop/review-apps").json()  # type: ignore[no-any-return]


def test_a_pushed_branch_becomes_a_review_app_updated_then_destroyed(
    pg_daemon: DaemonThread, tmp_path: Path
) -> None:
    daemon = pg_daemon
    app = shop(daemon, tmp_path)
    app.git("checkout", "-q", "-b", "feature/Login-Page")
    page = (app.dir / "app.py").read_text().replace("Deploy a change with", "Login page branch, v1:")
    first_sha = app.commit("login page", {"app.py": page})
    first = app.push("feature/Login-Page")
    assert first.returncode == 0, first.stderr
    out = first.stderr
    name = "shop-feature-login-page"
    url = f"http://{name}.localhost:{daemon.d.router_port}/"
    assert f"remote: -----> Creating review app {name} for branch feature/Login-Page" in out
    assert "remote: -----> Provisioning heroku-postgresql" in out
    assert "remote:        seeded shop-feature-login-page" in out  # postdeploy, HEROKU_APP_NAME injected
    assert f"remote: -----> Review app {name} is up: {url}" in out
    assert "feature/Login-Page -> feature/Login-Page" in out
    served = serving(daemon, name, "Login page branch, v1:")  # through the router, by its Host
    assert "Reviewing the login page" in served and f"built from {first_sha[:8]}" in served
    parent = serving(daemon, "shop-staging", "Hello from paas!")  # main, untouched by the branch
    assert "Login page branch" not in parent

    with daemon.client() as c:
        config = c.get(f"/apps/{name}/config-vars").json()
        assert config["HEROKU_APP_NAME"] == name and "DATABASE_URL" in config
        addon = c.get(f"/apps/{name}/addons").json()[0]["name"]
        coupling = c.get(f"/apps/{name}/pipeline-couplings").json()
        assert (coupling["pipeline"]["name"], coupling["stage"]) == ("shop", "review")
    database, _role = addon_names(addon)
    assert has_database(database)
    [listed] = review_apps(daemon)
    assert (listed["app"]["name"], listed["branch"], listed["status"]) == (
        name,
        "feature/Login-Page",
        "created",
    )

    sha = app.commit("v2", {"app.py": page.replace("Login page branch, v1:", "Login page branch, v2:")})
    second = app.push("feature/Login-Page")
    assert second.returncode == 0, second.stderr
    assert "Creating review app" not in second.stderr and "seeded" not in second.stderr
    assert "Released v" in second.stderr
    assert f"built from {sha[:8]}" in serving(daemon, name, "Login page branch, v2:")
    with daemon.client() as c:
        builds = c.get(f"/apps/{name}/builds").json()
        assert [b["source_blob"]["version"] for b in builds][-1] == sha
    assert review_apps(daemon)[0]["source_blob"]["version"] == sha

    info = daemon.cli("pipelines:info", "shop")
    assert info.returncode == 0, info.stderr
    assert "review app of feature/Login-Page (created)" in info.stdout and name in info.stdout
    listing = daemon.cli("reviewapps", "-p", "shop")
    assert name in listing.stdout and url in listing.stdout

    gone = daemon.cli("reviewapps:destroy", "feature/Login-Page", "-p", "shop", timeout=300)
    assert gone.returncode == 0, gone.stderr
    assert "goodbye Reviewing the login page" in gone.stdout  # pr-predestroy ran in the review app
    assert f"Destroying review app ⬢ {name} (branch feature/Login-Page)... done" in gone.stderr
    missing = fetch(daemon, name)
    assert missing.status_code == 404 and "no such app" in missing.text.lower()
    assert not has_database(database)
    assert review_apps(daemon) == []
    assert fetch(daemon, "shop-staging").status_code == 200


def test_a_branch_of_an_app_without_review_apps_is_refused(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "solo-staging")
    assert app.push().returncode == 0
    assert daemon.cli("pipelines:create", "solo", "-a", "solo-staging").returncode == 0
    app.git("checkout", "-q", "-b", "idea")
    refused = app.push("idea")
    assert refused.returncode != 0
    assert "Pushed to non-main branch (idea), skipping build." in refused.stderr
    assert "paas pipelines:review-apps:enable --autodeploy -p solo" in refused.stderr
    assert "(pre-receive hook declined)" in refused.stderr
    with daemon.client() as c:
        assert c.get("/review-apps").json() == []
        assert [a["name"] for a in c.get("/apps").json()] == ["solo-staging"]
    assert api_lines(daemon, "solo-staging").count("Build started by user local@paas") == 1
