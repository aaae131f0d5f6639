"""Review apps' settings with real pushes: without --autodeploy a branch makes none; deleting the
branch (the closed pull request) destroys its review app after pr-predestroy; disabling review
apps destroys them; with --autodestroy one idle for PAAS_REVIEW_APP_STALE seconds goes by itself;
destroying the pipeline destroys its review apps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import GitApp, fetch, serving, wait_for
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

pytestmark = pytest.mark.slow

STALE = 3.0  # seconds without a deploy before an --autodestroy pipeline destroys a review app


@pytest.fixture
def stale_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, review_app_stale=STALE)).start()
    try:
        yield d
    finally:
        d.stop()


def names(daemon: DaemonThread) -> list[str]:
    with daemon.client() as c:
        return [r["app"]["name"] for r in c.get("/pipelines/lab/review-apps").json()]


def branch(app: GitApp, name: str) -> None:
    app.git("checkout", "-q", "-B", name, "main")
    app.commit(f"work on {name}", {"branch.txt": f"{name}\n"})


def test_review_app_settings_branch_deletion_disable_and_staleness(
    stale_daemon: DaemonThread, tmp_path: Path
) -> None:
    daemon = stale_daemon
    app = GitApp(daemon, tmp_path, "lab-staging")
    app.commit(
        "app.json", {"app.json": json.dumps({"scripts": {"pr-predestroy": "echo tearing down $DYNO"}})}
    )
    assert app.push().returncode == 0
    assert daemon.cli("pipelines:create", "lab", "-a", "lab-staging").returncode == 0
    assert daemon.cli("pipelines:review-apps:enable", "-p", "lab").returncode == 0

    branch(app, "quiet")
    quiet = app.push("quiet")
    assert quiet.returncode == 0, quiet.stderr  # the branch is kept; no review app is made
    assert "no review app made: automatic review apps are off in pipeline lab" in quiet.stderr
    assert names(daemon) == []

    enabled = daemon.cli("reviewapps:enable", "--autodeploy", "-p", "lab")  # Heroku's name
    assert enabled.returncode == 0, enabled.stderr
    app.git("checkout", "-q", "-B", "broken", "main")
    app.commit("bad app.json", {"app.json": json.dumps({"environments": {"review": {"addons": ["nope:x"]}}})})
    broken = app.push("broken")
    assert broken.returncode != 0 and "(pre-receive hook declined)" in broken.stderr
    assert (
        "remote:  !     Couldn't find either the add-on service or the add-on plan 'nope:x'." in broken.stderr
    )
    assert names(daemon) == []  # validated before anything was made
    with daemon.client() as c:
        assert sorted(a["name"] for a in c.get("/apps").json()) == ["lab-staging"]

    app.git("checkout", "-q", "-B", "flaky", "main")
    app.commit("broken Procfile", {"Procfile": "web python app.py\n"})
    failed = app.push("flaky")
    assert failed.returncode != 0 and "Review app lab-flaky errored" in failed.stderr
    with daemon.client() as c:
        [errored] = c.get("/pipelines/lab/review-apps").json()
        assert (errored["app"]["name"], errored["status"]) == ("lab-flaky", "errored")
        assert "build failed" in errored["message"]
    app.commit("fixed Procfile", {"Procfile": "web: python app.py\n"})
    fixed = app.push("flaky")  # an errored review app is made anew, as Heroku does
    assert fixed.returncode == 0 and "Creating review app lab-flaky" in fixed.stderr, fixed.stderr
    serving(daemon, "lab-flaky", "Hello from paas!")
    assert daemon.cli("reviewapps:destroy", "lab-flaky").returncode == 0  # by app name, no pipeline

    branch(app, "doomed")
    assert app.push("doomed").returncode == 0
    assert names(daemon) == ["lab-doomed"]
    serving(daemon, "lab-doomed", "Hello from paas!")

    deleted = app.push(":doomed")
    assert deleted.returncode == 0, deleted.stderr
    assert "remote: -----> Running pr-predestroy script: echo tearing down $DYNO" in deleted.stderr
    assert "tearing down run." in deleted.stderr
    assert "remote:        Review app lab-doomed destroyed" in deleted.stderr
    assert names(daemon) == []
    assert fetch(daemon, "lab-doomed").status_code == 404

    branch(app, "kept")
    assert app.push("kept").returncode == 0
    off = daemon.cli("pipelines:review-apps:disable", "--autodeploy", "-p", "lab")
    assert off.returncode == 0 and "Automatic review apps:" in off.stdout and "off" in off.stdout
    assert names(daemon) == ["lab-kept"]  # only the setting changed
    disabled = daemon.cli("pipelines:review-apps:disable", "-p", "lab", timeout=300)
    assert disabled.returncode == 0, disabled.stderr
    with daemon.client() as c:
        assert c.get("/pipelines/lab/review-app-config").status_code == 404
        assert c.get("/apps/lab-kept").status_code == 404
    app.commit("more", {"branch.txt": "kept, more\n"})
    refused = app.push("kept")
    assert refused.returncode != 0 and "review-apps:enable --autodeploy -p lab" in refused.stderr

    on = daemon.cli("pipelines:review-apps:enable", "--autodeploy", "--autodestroy", "-p", "lab")
    assert on.returncode == 0, on.stderr
    branch(app, "idle")
    pushed = app.push("idle")
    assert pushed.returncode == 0 and "Review app lab-idle is up" in pushed.stderr
    wait_for(lambda: names(daemon) == [], timeout=STALE + 30, what="the idle review app to be destroyed")
    with daemon.client() as c:
        assert c.get("/apps/lab-idle").status_code == 404
    assert fetch(daemon, "lab-idle").status_code == 404

    assert daemon.cli("pipelines:review-apps:disable", "--autodestroy", "-p", "lab").returncode == 0
    branch(app, "last")
    assert app.push("last").returncode == 0
    assert names(daemon) == ["lab-last"]
    destroyed = daemon.cli("pipelines:destroy", "lab", timeout=300)
    assert destroyed.returncode == 0, destroyed.stderr
    with daemon.client() as c:
        assert c.get("/apps/lab-last").status_code == 404  # its review apps went with it
        assert c.get("/apps/lab-staging").status_code == 200  # its other apps stay
        assert c.get("/review-apps").json() == []
