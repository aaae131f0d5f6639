"""The one release path: changes of one app are serialised, and a pending change lives on its
pending release only, so a rejected config PATCH leaves the config exactly as it was."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.support.daemon import DaemonThread

# The release command waits for a gate file, then fails when BAD=1 is in its config.
RELEASE = (
    "import os, sys, time\n"
    "gate = sys.argv[1]\n"
    "while not os.path.exists(gate):\n"
    "    time.sleep(0.02)\n"
    "print('release phase saw BAD=' + os.environ.get('BAD', ''))\n"
    "sys.exit(1 if os.environ.get('BAD') == '1' else 0)\n"
)


def deploy_gated(daemon: DaemonThread, app: str, tmp_path: Path) -> Path:
    src = tmp_path / app
    src.mkdir()
    gate = tmp_path / f"{app}.gate"
    (src / "release.py").write_text(RELEASE)
    (src / "Procfile").write_text(f"web: python -m http.server $PORT\nrelease: python release.py {gate}\n")
    gate.touch()  # the deploy's own release phase passes at once
    assert daemon.cli("apps:create", app).returncode == 0
    deployed = daemon.cli("deploy", str(src), "-a", app)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return gate


def in_flight(daemon: DaemonThread, app: str) -> int:
    async def count() -> int:
        return daemon.d.releases.in_flight(app)

    return daemon.call(count)


def wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def patch_in_thread(daemon: DaemonThread, app: str, body: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def run() -> None:
        with daemon.client(timeout=60) as c:
            r = c.patch(f"/apps/{app}/config-vars", json=body)
            result.update(status=r.status_code, body=r.json())

    thread = threading.Thread(target=run)
    thread.start()
    result["thread"] = thread
    return result


def test_two_patches_in_flight_a_rejected_one_changes_nothing(daemon: DaemonThread, tmp_path: Path) -> None:
    gate = deploy_gated(daemon, "race", tmp_path)
    c = daemon.client(timeout=60)
    assert c.patch("/apps/race/config-vars", json={"KEEP": "1"}).status_code == 200
    gate.unlink()  # from now on each release phase waits for the test to open the gate
    before = c.get("/apps/race/releases").json()

    bad = patch_in_thread(daemon, "race", {"BAD": "1"})
    wait_for(lambda: c.get("/apps/race/releases").json()[-1]["status"] == "pending", "the pending release")
    good = patch_in_thread(daemon, "race", {"OTHER": "2"})
    wait_for(lambda: in_flight(daemon, "race") == 2, "the second PATCH to wait its turn")
    # while the first release phase runs, its change is nowhere but on its pending release
    assert c.get("/apps/race/config-vars").json() == {"KEEP": "1"}
    gate.touch()
    bad["thread"].join(60)
    good["thread"].join(60)

    assert bad["status"] == 422
    assert (
        "failed: its release command did not succeed, so the config vars were not changed"
        in (bad["body"]["message"])
    )
    assert good["status"] == 200 and good["body"] == {"KEEP": "1", "OTHER": "2"}
    assert c.get("/apps/race/config-vars").json() == {"KEEP": "1", "OTHER": "2"}
    releases = c.get("/apps/race/releases").json()[len(before) :]
    assert [(r["description"], r["status"]) for r in releases] == [
        ("Set BAD config vars", "failed"),
        ("Set OTHER config vars", "succeeded"),
    ]
    second = c.get(f"/apps/race/releases/{releases[1]['version']}").json()
    assert second["config_vars"] == {"KEEP": "1", "OTHER": "2"}  # built on the config as it was
    assert "release phase saw BAD=\n" in second["output"] + "\n"
    log = c.get("/apps/race/log-stream", params={"lines": 200}).text
    assert f"Release v{releases[0]['version']} command failed by user local@paas" in log
    assert f"Release v{releases[1]['version']} created by user local@paas" in log


def test_two_rejected_patches_leave_the_config_as_it_was(daemon: DaemonThread, tmp_path: Path) -> None:
    gate = deploy_gated(daemon, "race2", tmp_path)
    gate.unlink()
    c = daemon.client(timeout=60)
    first = patch_in_thread(daemon, "race2", {"BAD": "1"})
    wait_for(lambda: c.get("/apps/race2/releases").json()[-1]["status"] == "pending", "the pending release")
    second = patch_in_thread(daemon, "race2", {"BAD": "1", "MORE": "x"})
    wait_for(lambda: in_flight(daemon, "race2") == 2, "the second PATCH to wait its turn")
    gate.touch()
    first["thread"].join(60)
    second["thread"].join(60)
    assert (first["status"], second["status"]) == (422, 422)
    assert c.get("/apps/race2/config-vars").json() == {}
    statuses = [r["status"] for r in c.get("/apps/race2/releases").json()[-2:]]
    assert statuses == ["failed", "failed"]


def test_a_change_of_an_unknown_app_is_a_404_before_any_wait(daemon: DaemonThread) -> None:
    r = daemon.client().patch("/apps/nosuchapp/config-vars", json={"A": "1"})
    assert r.status_code == 404 and r.json() == {"id": "not_found", "message": "Couldn't find that app."}
