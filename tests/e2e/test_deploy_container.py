"""`paas container:release web --image IMAGE`: a local image runs as the app's web process on
the Docker runtime (no build), and a missing image is refused with nothing changed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import EXAMPLES, serving, wait_for
from tests.support import daemon as daemon_support
from tests.support.daemon import DaemonThread
from tests.support.require import require
from tests.support.runtimes import docker_problem

pytestmark = [pytest.mark.slow, pytest.mark.docker]
IMAGE = "paas-test/container-hello:1"


@pytest.fixture
def docker_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    problem = docker_problem()
    require(problem is None, problem or "")
    d = DaemonThread(daemon_support.test_settings(paas_home, runtime="docker")).start()
    try:
        yield d
    finally:
        d.stop()


def test_container_release_runs_a_local_image(docker_daemon: DaemonThread, tmp_path: Path) -> None:
    import docker

    from dynos.stack import LOCAL_STACK_IMAGE

    client = docker.from_env(timeout=120)
    context = tmp_path / "image"
    shutil.copytree(EXAMPLES / "hello", context)
    (context / "Dockerfile").write_text(
        f"FROM {LOCAL_STACK_IMAGE}\nCOPY app.py /app/app.py\nENV GREETING='Hello from an image'\n"
        'CMD ["python3", "/app/app.py"]\n'
    )
    client.images.build(path=str(context), tag=IMAGE, rm=True)
    try:
        d = docker_daemon
        assert d.cli("apps:create", "boxed").returncode == 0
        missing = d.cli("container:release", "web", "--image", "paas-test/no-such-image:1", "-a", "boxed")
        assert missing.returncode == 1
        assert "Image paas-test/no-such-image:1 was not found in the local Docker engine" in missing.stderr
        assert len(d.client().get("/apps/boxed/releases").json()) == 2

        released = d.cli("container:release", "web", "--image", IMAGE, "-a", "boxed")
        assert released.returncode == 0, released.stderr
        assert "Releasing image paas-test/container-hello:1 to ⬢ boxed... done, v3" in released.stderr
        release = d.client().get("/apps/boxed/releases").json()[-1]
        assert release["description"] == f"Deployed web ({IMAGE})"
        slug = d.client().get(f"/apps/boxed/slugs/{release['slug']['id']}").json()
        assert slug["docker_image"] == IMAGE and slug["process_types"] == {"web": ""}
        web = wait_for(
            lambda: [x for x in d.d.dynos.dynos("boxed") if x.type == "web" and x.state == "up"],
            timeout=60,
            what="the container web dyno up",
        )
        assert web[0].container
        serving(d, "boxed", "Hello from an image", timeout=30)
    finally:
        client.images.remove(IMAGE, force=True)
