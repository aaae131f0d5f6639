"""`git push paas main` for real: git's smart HTTP through `git http-backend`, the pre-receive
hook streaming the build back as `remote:` lines, buildpacks, the dependency cache, rejected
pushes that leave the running release alone, and rollback."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import GitApp, api_lines, fetch, serving, wait_for
from tests.support.daemon import DaemonThread

pytestmark = pytest.mark.slow


def test_push_python_app_with_dependency_then_warm_cache(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "pyhumanize", "python-humanize")
    first = app.push()
    assert first.returncode == 0, first.stderr
    out = first.stderr  # git prints the hook's output (remote: ...) on stderr
    assert "remote: -----> Python app detected" in out
    assert "remote: -----> Installing requirements with pip" in out
    assert re.search(r"remote:\s+Successfully installed humanize-", out)
    assert "remote:        Released v3" in out
    assert "main -> main" in out
    page = serving(daemon, "pyhumanize", "humanize")
    assert "requests would be a lot" in page and "1,234,567" in page  # humanize.intcomma really ran

    sha = app.commit(
        "change the greeting",
        {"app.py": (app.dir / "app.py").read_text().replace("Hello from", "Howdy from")},
    )
    second = app.push()
    assert second.returncode == 0, second.stderr
    assert "reusing the cached virtual environment" in second.stderr
    assert "Installing requirements" not in second.stderr
    serving(daemon, "pyhumanize", "Howdy from")

    lines = api_lines(daemon, "pyhumanize")
    assert "Build started by user local@paas" in lines
    assert f"Deploy {sha[:8]} by user local@paas" in lines
    assert "Release v4 created by user local@paas" in lines
    assert lines.index(f"Deploy {sha[:8]} by user local@paas") < lines.index(
        "Release v4 created by user local@paas"
    )
    assert lines[-1] == "Build succeeded"
    cloned = daemon.cli("git:clone", "-a", "pyhumanize", str(tmp_path / "clone"), cwd=str(tmp_path))
    assert cloned.returncode == 0, cloned.stderr
    assert "Howdy from" in (tmp_path / "clone" / "app.py").read_text()
    builds = daemon.client().get("/apps/pyhumanize/builds").json()
    assert [b["status"] for b in builds] == ["succeeded", "succeeded"]
    assert builds[-1]["source_blob"]["version"] == sha


def test_failed_build_rejects_push_and_keeps_running_release(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "keeper")
    assert app.push().returncode == 0
    serving(daemon, "keeper", "Hello from paas!")
    before = app.releases()
    pid = wait_for(lambda: next((d.pid for d in app.web_dynos() if d.state == "up"), None), what="web.1 up")

    app.commit("broken Procfile", {"Procfile": "web python app.py\n"})
    rejected = app.push()
    assert rejected.returncode != 0
    assert "remote:  !     Procfile line 1: expected '<type>: <command>'" in rejected.stderr
    assert "remote:  !\tPush rejected to keeper." in rejected.stderr
    assert "! [remote rejected] main -> main (pre-receive hook declined)" in rejected.stderr
    assert app.releases() == before
    assert [d.pid for d in app.web_dynos()] == [pid]
    assert fetch(daemon, "keeper").status_code == 200
    assert api_lines(daemon, "keeper")[-1] == "Build failed"
    # the branch did not move: the server still has the last good commit
    remote_head = app.git("ls-remote", "paas", "refs/heads/main").stdout.split()[0]
    assert remote_head == app.git("rev-parse", "HEAD~1").stdout.strip()

    app.git("checkout", "-q", "-b", "feature")
    other = app.push("feature")
    assert other.returncode != 0
    assert "Pushed to non-main branch (feature), skipping build." in other.stderr
    assert "(pre-receive hook declined)" in other.stderr
    assert app.releases() == before


def test_push_needs_the_token(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "guarded")
    url = f"http://paas:not-the-token@127.0.0.1:{daemon.d.api_port}/git/guarded.git"
    result = subprocess.run(
        ["git", "-c", "credential.helper=", "push", url, "main"],
        cwd=app.dir,
        env=app.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr or "401" in result.stderr
    assert len(app.releases()) == 2
    missing = subprocess.run(
        ["git", "ls-remote", f"http://127.0.0.1:{daemon.d.api_port}/git/no-such-app.git"],
        cwd=app.dir,
        env=app.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0
    listed = app.git("ls-remote", "paas")  # the helper's token works; the repository exists now
    assert listed.returncode == 0 and listed.stdout == ""
    repo = daemon.settings.repos_dir / "guarded.git"
    assert (repo / "hooks" / "pre-receive").is_file()
    assert daemon.cli("apps:destroy", "guarded", "--confirm", "guarded").returncode == 0
    assert not repo.exists()  # the repository goes with the app


def test_release_phase_failure_keeps_old_dynos_then_success(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "migrator")
    assert app.push().returncode == 0
    serving(daemon, "migrator", "Hello from paas!")
    pid = wait_for(lambda: next((d.pid for d in app.web_dynos() if d.state == "up"), None), what="web.1 up")

    app.commit(
        "a failing migration",
        {
            "Procfile": "web: python app.py\nrelease: echo migrating database && exit 3\n",
            "app.py": (app.dir / "app.py").read_text().replace("Hello from paas!", "New code!"),
        },
    )
    failed = app.push()
    assert failed.returncode != 0
    assert "remote: -----> Running release command..." in failed.stderr
    assert "remote:        migrating database" in failed.stderr
    assert "Release command failed with exit status 3" in failed.stderr
    release = app.releases()[-1]
    assert (release["version"], release["status"], release["current"]) == (4, "failed", False)
    assert app.releases()[-2]["current"] is True
    info = daemon.client().get("/apps/migrator/releases/4").json()
    assert "migrating database" in info["output"]
    assert [d.pid for d in app.web_dynos()] == [pid]
    assert "Hello from paas!" in fetch(daemon, "migrator").text
    lines = api_lines(daemon, "migrator")
    assert "Release v4 command failed by user local@paas" in lines
    assert "Release v4 created by user local@paas" not in lines
    logs = [line.format() for line in daemon.d.logs.recent("migrator", 1500)]
    assert any(re.search(r"app\[release\.\d{4}\]: migrating database", line) for line in logs)
    assert any(re.search(r"heroku\[release\.\d{4}\]: Process exited with status 3", line) for line in logs)
    formation = daemon.client().get("/apps/migrator/formation").json()
    assert [f["type"] for f in formation] == ["web"]  # the failed release's process types did not apply

    app.commit("a working migration", {"Procfile": "web: python app.py\nrelease: echo migrated\n"})
    ok = app.push()
    assert ok.returncode == 0, ok.stderr
    assert "remote:        migrated" in ok.stderr
    assert app.releases()[-1]["status"] == "succeeded"
    serving(daemon, "migrator", "New code!")
    assert wait_for(
        lambda: [d.pid for d in app.web_dynos() if d.state == "up"] not in ([], [pid]), what="a new web.1"
    )

    # a rollback runs the release phase of the slug it goes back to, like any release
    rolled = daemon.cli("rollback", "v5", "-a", "migrator")
    assert rolled.returncode == 0, rolled.stderr
    release = app.releases()[-1]
    assert (release["version"], release["description"], release["status"]) == (
        6,
        "Rollback to v5",
        "succeeded",
    )
    assert daemon.client().get("/apps/migrator/releases/6").json()["output"] == "migrated"


def test_rollback_makes_a_new_release_with_the_old_slug(daemon: DaemonThread, tmp_path: Path) -> None:
    app = GitApp(daemon, tmp_path, "rewinder")
    assert app.push().returncode == 0
    serving(daemon, "rewinder", "Hello from paas!")
    app.commit("v4", {"app.py": (app.dir / "app.py").read_text().replace("Hello from paas!", "Version four")})
    assert app.push().returncode == 0
    serving(daemon, "rewinder", "Version four")

    result = daemon.cli("rollback", "v3", "-a", "rewinder")
    assert result.returncode == 0, result.stderr
    assert "Rolling back ⬢ rewinder... done, rolled back to v3" in result.stderr
    assert "To undo, run: paas rollback v4" in result.stdout
    release = app.releases()[-1]
    assert (release["version"], release["description"], release["current"]) == (5, "Rollback to v3", True)
    serving(daemon, "rewinder", "Hello from paas!")
    assert "Rollback to v3 by user local@paas" in api_lines(daemon, "rewinder")
    bad = daemon.cli("rollback", "v99", "-a", "rewinder")
    assert bad.returncode == 1 and "Couldn't find that release." in bad.stderr
