"""Every path that unpacks a user's source is bounded and leaves nothing behind: directory
deploys (builds `source_blob`), app setups and `git push`; source URLs name uploads only."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paas.builds.source import MB
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.unit.test_source_archive import zero_bomb


@pytest.fixture
def bomb(tmp_path: Path) -> bytes:
    """The issue's archive: ~100 KB of tar.gz holding 100 MB of zeros."""
    return zero_bomb(tmp_path / "bomb.tar.gz", 100 * MB).read_bytes()


def upload(c: httpx.Client, app: str, data: bytes) -> str:
    r = c.post(f"/apps/{app}/sources", content=data)
    assert r.status_code == 201, r.text
    return str(r.json()["source_blob"]["url"])


def wait_build(c: httpx.Client, app: str, build_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        build: dict[str, Any] = c.get(f"/apps/{app}/builds/{build_id}").json()
        if build["status"] != "pending":
            return build
        assert time.monotonic() < deadline, "the build never finished"
        time.sleep(0.1)


def leftovers(home: Path) -> list[str]:
    return sorted(
        p.relative_to(home).as_posix()
        for d in ("sources", "builds", "slugs")
        for p in (home / d).glob("*/**")
    ) + sorted(p.name for d in ("sources", "builds") for p in (home / d).glob("*"))


def test_the_zero_bomb_build_fails_with_a_clear_message_and_nothing_left(
    daemon: DaemonThread, bomb: bytes
) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "bombed"})
    releases = c.get("/apps/bombed/releases").json()
    url = upload(c, "bombed", bomb)
    build = c.post("/apps/bombed/builds", json={"source_blob": {"url": url}}).json()
    done = wait_build(c, "bombed", build["id"])
    assert done["status"] == "failed"
    output = c.get(f"/apps/bombed/builds/{build['id']}/output").text.splitlines()
    assert output[0] == (
        f" !     The source archive expands to more than 100 times its compressed size of "
        f"{len(bomb) / 1024:.0f} KB (a decompression bomb?): refused while extracting."
    )
    assert output[1] == " !     Push failed"
    assert c.get("/apps/bombed/releases").json() == releases  # nothing released
    assert leftovers(daemon.settings.home) == []


def test_a_source_over_the_configured_size_is_refused(paas_home: Path) -> None:
    d = DaemonThread(daemon_settings(paas_home, source_size_limit_mb=1, source_max_files=10)).start()
    try:
        c = d.client()
        c.post("/apps", json={"name": "capped"})
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:  # uncompressed: no ratio to blame
            for i in range(2):
                info = tarfile.TarInfo(f"half-{i}")
                info.size = 600 * 1024
                tar.addfile(info, io.BytesIO(bytes(info.size)))
        build = c.post(
            "/apps/capped/builds", json={"source_blob": {"url": upload(c, "capped", buf.getvalue())}}
        )
        assert wait_build(c, "capped", build.json()["id"])["status"] == "failed"
        out = c.get(f"/apps/capped/builds/{build.json()['id']}/output").text
        assert "The source archive expands to more than 1 MB (PAAS_SOURCE_SIZE_LIMIT_MB)" in out
        assert leftovers(paas_home) == []
    finally:
        d.stop()


def test_an_app_setup_of_the_bomb_is_a_422_and_changes_nothing(daemon: DaemonThread, bomb: bytes) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "setupbomb"})
    url = upload(c, "setupbomb", bomb)
    r = c.post("/apps/setupbomb/app-setups", json={"source_blob": {"url": url}})
    assert r.status_code == 422
    assert r.json() == {
        "id": "invalid_params",
        "message": f"The source archive expands to more than 100 times its compressed size of "
        f"{len(bomb) / 1024:.0f} KB (a decompression bomb?): refused while extracting.",
    }
    assert c.get("/apps/setupbomb/config-vars").json() == {}
    assert leftovers(daemon.settings.home) == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/hostname", "source:../token", "source:../../x", "https://example.com/a.tgz", "source:"],
)
def test_a_source_url_names_an_upload_and_nothing_else_on_the_machine(
    daemon: DaemonThread, tmp_path: Path, url: str
) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "urls"})
    for path in ("builds", "app-setups"):
        r = c.post(f"/apps/urls/{path}", json={"source_blob": {"url": url}})
        assert r.status_code == 422, (path, r.text)
        assert r.json() == {
            "id": "invalid_params",
            "message": "source_blob.url must be a source URL returned by POST /apps/{app}/sources.",
        }


def test_an_app_setup_no_longer_deletes_the_file_a_url_names(daemon: DaemonThread, tmp_path: Path) -> None:
    victim = tmp_path / "precious.tar"
    with tarfile.open(victim, "w") as tar:
        info = tarfile.TarInfo("Procfile")
        info.size = 8
        tar.addfile(info, io.BytesIO(b"web: x\n\n"))
    c = daemon.client()
    c.post("/apps", json={"name": "victim"})
    r = c.post("/apps/victim/app-setups", json={"source_blob": {"url": f"file://{victim}"}})
    assert r.status_code == 422
    assert victim.exists()


@pytest.fixture
def capped_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, source_size_limit_mb=5)).start()
    try:
        yield d
    finally:
        d.stop()


def test_a_git_push_expanding_past_the_cap_is_rejected_and_leaves_nothing(
    capped_daemon: DaemonThread, tmp_path: Path
) -> None:
    from tests.e2e.test_deploy_helpers import GitApp

    app = GitApp(capped_daemon, tmp_path, "gitbomb", example=None)
    (app.dir / "Procfile").write_text("web: sleep 60\n")
    with (app.dir / "zeros.bin").open("wb") as f:
        f.truncate(20 * MB)  # git stores it in ~20 KB
    app.git("add", "-A")
    app.git("commit", "-q", "-m", "bomb")
    pushed = app.push()
    assert pushed.returncode != 0
    assert (
        "remote:  !     The source archive expands to more than 5 MB (PAAS_SOURCE_SIZE_LIMIT_MB): "
        "refused while extracting." in pushed.stderr
    )
    assert "remote:  !\tPush rejected to gitbomb." in pushed.stderr
    assert leftovers(capped_daemon.settings.home) == []
    assert [r["version"] for r in app.releases()] == [1, 2]
    ls = subprocess.run(
        ["git", "ls-remote", "paas"], cwd=app.dir, env=app.env, capture_output=True, text=True
    )
    assert ls.stdout.strip() == ""  # the pre-receive hook refused it: the ref never moved
