"""The installed `paas` script against a real daemon: Heroku's names, output and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.daemon import DaemonThread


def test_apps_create_info_destroy(daemon: DaemonThread) -> None:
    r = daemon.cli("apps:create", "clitest")
    assert r.returncode == 0, r.stderr
    assert "Creating ⬢ clitest... done" in r.stderr
    assert f"http://clitest.localhost:{daemon.d.router_port}/ | {daemon.api_url}/git/clitest.git" in r.stdout
    info = daemon.cli("apps:info", "-a", "clitest")
    assert info.stdout.startswith("=== clitest\n")
    assert "Web URL:" in info.stdout and "Maintenance: off" in info.stdout
    assert json.loads(daemon.cli("apps", "--json").stdout)[0]["name"] == "clitest"
    refused = daemon.cli("apps:destroy", "-a", "clitest", "--confirm", "other")
    assert refused.returncode == 1 and "Confirmation did not match clitest" in refused.stderr
    assert daemon.cli("apps:destroy", "-a", "clitest", "--confirm", "clitest").returncode == 0
    assert daemon.cli("apps", "--json").stdout.strip() == "[]"


def test_random_name(daemon: DaemonThread) -> None:
    r = daemon.cli("apps:create")
    assert r.returncode == 0
    assert r.stdout.startswith("Created ⬢ ")


def test_config_set_get_unset_with_release_numbers(daemon: DaemonThread) -> None:
    daemon.cli("apps:create", "cfgapp")
    r = daemon.cli("config:set", "FOO=bar", "EMPTY=", "-a", "cfgapp")
    assert r.returncode == 0
    assert "Setting FOO, EMPTY and restarting ⬢ cfgapp... done, v3" in r.stderr
    assert daemon.cli("config:get", "FOO", "-a", "cfgapp").stdout == "bar\n"
    listing = daemon.cli("config", "-a", "cfgapp").stdout
    assert listing.startswith("=== cfgapp Config Vars\n") and "FOO:   bar" in listing
    r = daemon.cli("config:unset", "FOO", "-a", "cfgapp")
    assert "Unsetting FOO and restarting ⬢ cfgapp... done, v4" in r.stderr
    bad = daemon.cli("config:set", "NOEQUALS", "-a", "cfgapp")
    assert bad.returncode == 1 and "NOEQUALS is invalid. Must be in the format FOO=bar." in bad.stderr
    bad = daemon.cli("config:set", "HEROKU_X=1", "-a", "cfgapp")
    assert bad.returncode == 1 and " ›   Error: Invalid config var name 'HEROKU_X'" in bad.stderr


def test_releases_rollback_and_info(daemon: DaemonThread) -> None:
    daemon.cli("apps:create", "relapp")
    daemon.cli("config:set", "A=1", "-a", "relapp")
    daemon.cli("config:set", "A=2", "-a", "relapp")
    r = daemon.cli("rollback", "v3", "-a", "relapp")
    assert r.returncode == 0
    assert "Rolling back ⬢ relapp... done, rolled back to v3" in r.stderr
    out = daemon.cli("releases", "-a", "relapp").stdout
    assert out.startswith("=== relapp Releases - Current: v5\n")
    assert "v5    Rollback to v3" in out
    info = daemon.cli("releases:info", "v5", "-a", "relapp").stdout
    assert "Change:  Rollback to v3" in info
    assert daemon.cli("config:get", "A", "-a", "relapp").stdout == "1\n"


def test_maintenance_toggle(daemon: DaemonThread) -> None:
    daemon.cli("apps:create", "mapp")
    assert daemon.cli("maintenance", "-a", "mapp").stdout == "off\n"
    r = daemon.cli("maintenance:on", "-a", "mapp")
    assert "Enabling maintenance mode for ⬢ mapp... done" in r.stderr
    assert daemon.cli("maintenance", "-a", "mapp").stdout == "on\n"


def test_unknown_command_suggests_and_exits_127(daemon: DaemonThread) -> None:
    r = daemon.cli("confg")
    assert r.returncode == 127
    assert " ›   Error: confg is not a paas command." in r.stderr
    assert "Did you mean config?" in r.stderr


def test_errors_are_one_line_without_traceback(daemon: DaemonThread) -> None:
    r = daemon.cli("config", "-a", "missing-app")
    assert r.returncode == 1
    assert r.stderr == " ›   Error: Couldn't find that app.\n"
    r = daemon.cli("config")
    assert r.returncode == 1 and "Missing required flag -a, --app" in r.stderr


def test_app_from_git_remote_and_env(daemon: DaemonThread, tmp_path: Path) -> None:
    daemon.cli("apps:create", "remoteapp")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "paas", f"{daemon.api_url}/git/remoteapp.git"],
        check=True,
    )
    r = daemon.cli("config:set", "X=1", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "⬢ remoteapp" in r.stderr


def test_deploy_directory_with_slugignore(daemon: DaemonThread, tmp_path: Path) -> None:
    app_dir = tmp_path / "src"
    app_dir.mkdir()
    (app_dir / "Procfile").write_text("web: python -m http.server $PORT\nworker: sleep 1000\n")
    (app_dir / "index.html").write_text("hi")
    (app_dir / "secret.log").write_text("do not ship")
    (app_dir / ".slugignore").write_text("*.log\n")
    daemon.cli("apps:create", "dirapp")
    r = daemon.cli("deploy", str(app_dir), "-a", "dirapp", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Procfile declares types -> web, worker" in r.stdout
    slug_dirs = list((daemon.settings.slugs_dir / "dirapp").iterdir())
    assert len(slug_dirs) == 1
    assert (slug_dirs[0] / "index.html").exists() and not (slug_dirs[0] / "secret.log").exists()
    releases = json.loads(daemon.cli("releases", "--json", "-a", "dirapp").stdout)
    assert releases[0]["description"].startswith("Deploy ")
    formation = daemon.client().get("/apps/dirapp/formation").json()
    assert {(f["type"], f["quantity"]) for f in formation} == {("web", 1), ("worker", 0)}


def test_deploy_with_broken_procfile_fails_cleanly(daemon: DaemonThread, tmp_path: Path) -> None:
    app_dir = tmp_path / "bad"
    app_dir.mkdir()
    (app_dir / "Procfile").write_text("web: python app.py\nthis line is wrong\n")
    daemon.cli("apps:create", "badproc")
    r = daemon.cli("deploy", str(app_dir), "-a", "badproc", timeout=120)
    assert r.returncode == 1
    assert "Procfile line 2: expected '<type>: <command>'" in r.stdout
    releases = json.loads(daemon.cli("releases", "--json", "-a", "badproc").stdout)
    assert len(releases) == 2  # no release was made


def test_certs_trust_prints_the_one_local_ca(daemon: DaemonThread) -> None:
    out = daemon.cli("certs:trust")
    assert out.returncode == 0, out.stderr
    ca = daemon.settings.home / "ca" / "ca.pem"
    assert f"The paas local certificate authority: {ca}" in out.stdout
    assert f"curl --cacert {ca}" in out.stdout and "GIT_SSL_CAINFO" in out.stdout
    assert json.loads(daemon.cli("certs:trust", "--json").stdout) == {"path": str(ca)}
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (ca.parent / "ca.key").stat().st_mode & 0o777 == 0o600
