"""Config changes are releases: with a `release:` command it runs first, and a failure changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.support.daemon import DaemonThread


def test_config_change_runs_the_release_phase(daemon: DaemonThread, tmp_path: Path) -> None:
    src = tmp_path / "app"
    src.mkdir()
    (src / "Procfile").write_text(
        "web: python -m http.server $PORT\nrelease: python -c \"import os,sys; print('migrating'); "
        "sys.exit(1 if os.environ.get('FAIL') == '1' else 0)\"\n"
    )
    assert daemon.cli("apps:create", "relcfg").returncode == 0
    deploy = daemon.cli("deploy", str(src), "-a", "relcfg")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    c = daemon.client(timeout=60)
    before = c.get("/apps/relcfg/releases").json()

    ok = daemon.cli("config:set", "GOOD=1", "-a", "relcfg")
    assert ok.returncode == 0, ok.stderr
    after_ok = c.get("/apps/relcfg/releases").json()
    assert after_ok[-1]["status"] == "succeeded" and after_ok[-1]["description"] == "Set GOOD config vars"
    assert "migrating" in c.get(f"/apps/relcfg/releases/{after_ok[-1]['version']}").json()["output"]

    bad = daemon.cli("config:set", "FAIL=1", "-a", "relcfg")
    assert bad.returncode == 1
    assert "failed: its release command did not succeed, so the config vars were not changed" in bad.stderr
    assert c.get("/apps/relcfg/config-vars").json() == {"GOOD": "1"}
    releases = c.get("/apps/relcfg/releases").json()
    assert releases[-1]["status"] == "failed" and releases[-1]["current"] is False
    current = [r for r in releases if r["current"]]
    assert current[0]["version"] == after_ok[-1]["version"]
    assert len(releases) == len(before) + 2
