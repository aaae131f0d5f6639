"""Pipelines: stages inferred from app names, promotion copies the slug (no rebuild)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import GitApp, api_lines, serving
from tests.support.daemon import DaemonThread

pytestmark = pytest.mark.slow


def test_promote_staging_to_production_without_rebuild(daemon: DaemonThread, tmp_path: Path) -> None:
    staging = GitApp(daemon, tmp_path, "shop-staging")
    sha = staging.commit(
        "staging build",
        {
            "app.py": (staging.dir / "app.py")
            .read_text()
            .replace("Deploy a change with", "Built once. Deploy with")
        },
    )
    assert staging.push().returncode == 0
    serving(daemon, "shop-staging", "Built once")
    assert daemon.cli("apps:create", "shop-prod").returncode == 0
    assert daemon.cli("config:set", "GREETING=Production says hi", "-a", "shop-prod").returncode == 0

    created = daemon.cli("pipelines:create", "shop", "-a", "shop-staging")
    assert created.returncode == 0, created.stderr
    added = daemon.cli("pipelines:add", "shop", "-a", "shop-prod")
    assert added.returncode == 0, added.stderr
    assert "done, production" in added.stderr
    info = daemon.cli("pipelines:info", "shop")
    assert info.returncode == 0
    assert [line.split() for line in info.stdout.splitlines()[-2:]] == [
        ["shop-staging", "staging"],
        ["shop-prod", "production"],
    ]
    assert daemon.cli("pipelines").stdout.splitlines()[-1] == "shop"

    promoted = daemon.cli("pipelines:promote", "-a", "shop-staging")
    assert promoted.returncode == 0, promoted.stderr
    assert "Promotion successful" in promoted.stdout
    assert "shop-prod: succeeded, v4" in promoted.stdout  # v3 was the config change
    # production runs the very same code with its own config, and never built anything
    page = serving(daemon, "shop-prod", "Production says hi")
    assert "Built once" in page
    with daemon.client() as c:
        assert c.get("/apps/shop-prod/builds").json() == []
        release = c.get("/apps/shop-prod/releases").json()[-1]
        assert release["description"] == f"Promote shop-staging v3 {sha[:8]}"
        slug = c.get(f"/apps/shop-prod/slugs/{release['slug']['id']}").json()
        assert slug["commit"] == sha
        assert c.get("/apps/shop-prod/config-vars").json()["GREETING"] == "Production says hi"
    assert f"Promote shop-staging v3 {sha[:8]} by user local@paas" in api_lines(daemon, "shop-prod")

    # the last stage has nowhere to go; a bad stage or a foreign app is refused cleanly
    last = daemon.cli("pipelines:promote", "-a", "shop-prod")
    assert last.returncode == 1
    assert "is in the last stage (production)" in last.stderr
    assert daemon.cli("apps:create", "loner").returncode == 0
    no_stage = daemon.cli("pipelines:add", "shop", "-a", "loner")
    assert no_stage.returncode == 1 and "Could not infer a stage from the name loner" in no_stage.stderr
    twice = daemon.cli("pipelines:add", "shop", "-a", "shop-prod", "--stage", "staging")
    assert twice.returncode == 1 and "already in pipeline shop" in twice.stderr

    # promoted releases survive the source app being destroyed (each app has its own slug copy)
    assert daemon.cli("apps:destroy", "shop-staging", "--confirm", "shop-staging").returncode == 0
    restarted = daemon.cli("ps:restart", "-a", "shop-prod")
    assert restarted.returncode == 0, restarted.stderr
    serving(daemon, "shop-prod", "Built once")
