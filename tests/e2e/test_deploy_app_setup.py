"""`paas apps:create NAME --from PATH` with an app.json: env (generator: secret), add-ons,
formation, postdeploy — from a directory and from a git repository; a bad app.json changes
nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import EXAMPLES, git_env, serving, wait_for
from tests.support.daemon import DaemonThread

pytestmark = pytest.mark.slow

APP_JSON = {
    "name": "hello",
    "env": {
        "SECRET_KEY": {"description": "signs cookies", "generator": "secret"},
        "GREETING": {"value": "Set up from app.json"},
    },
    "addons": [{"plan": "heroku-kafka:basic-0", "as": "EVENTS"}],
    "formation": {"web": {"quantity": 2}},
    "scripts": {"postdeploy": "echo seeded with $GREETING"},
}


def source(tmp_path: Path, manifest: object) -> Path:
    src = tmp_path / "setup-src"
    shutil.copytree(EXAMPLES / "hello", src)
    (src / "app.json").write_text(json.dumps(manifest))
    return src


def test_app_json_setup_from_directory(daemon: DaemonThread, tmp_path: Path) -> None:
    src = source(tmp_path, APP_JSON)
    result = daemon.cli("apps:create", "fromjson", "--from", str(src), timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "-----> Setting config vars: GREETING, SECRET_KEY" in out
    assert "-----> Provisioning heroku-kafka:basic-0 as EVENTS" in out
    assert "-----> Procfile app detected" in out and "Released v" in out
    assert "-----> Scaled to web@2:unchanged" in out
    assert "seeded with Set up from app.json" in out
    assert "-----> App setup succeeded\nhttp://fromjson.localhost:" in out
    with daemon.client() as c:
        config = c.get("/apps/fromjson/config-vars").json()
        assert len(config["SECRET_KEY"]) == 64 and config["GREETING"] == "Set up from app.json"
        assert "EVENTS_URL" in config
        assert [f["quantity"] for f in c.get("/apps/fromjson/formation").json()] == [2]
    wait_for(
        lambda: (
            len([d for d in daemon.d.dynos.dynos("fromjson") if d.type == "web" and d.state == "up"]) == 2
        ),
        what="two web dynos",
    )
    serving(daemon, "fromjson", "Set up from app.json")
    logs = [line.format() for line in daemon.d.logs.recent("fromjson", 1500)]
    assert any("]: seeded with Set up from app.json" in line and "app[run." in line for line in logs)


def test_app_json_setup_from_git_repository_and_bad_manifest(daemon: DaemonThread, tmp_path: Path) -> None:
    manifest = {k: v for k, v in APP_JSON.items() if k != "addons"}
    src = source(tmp_path, manifest)
    env = git_env(daemon, tmp_path)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "app.json"]):
        subprocess.run(["git", *args], cwd=src, env=env, check=True, capture_output=True)
    result = daemon.cli("apps:create", "fromrepo", "--from", f"file://{src}", timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Cloning file://" in result.stderr
    serving(daemon, "fromrepo", "Set up from app.json")

    bad = source(tmp_path / "bad", {"env": {"API_KEY": {"description": "required, no value"}}})
    refused = daemon.cli("apps:create", "badjson", "--from", str(bad))
    assert refused.returncode == 1
    assert "app.json: config var API_KEY is required but has no value" in refused.stderr
    assert "the app badjson was created but nothing was changed in it" in refused.stderr
    with daemon.client() as c:
        assert c.get("/apps/badjson/config-vars").json() == {}
        assert [r["version"] for r in c.get("/apps/badjson/releases").json()] == [1, 2]
        assert c.get("/apps/badjson/builds").json() == []
    unknown = source(tmp_path / "unknown", {"addons": ["papertrail"]})
    refused = daemon.cli("apps:create", "badaddon", "--from", str(unknown))
    assert refused.returncode == 1 and "papertrail" in refused.stderr
