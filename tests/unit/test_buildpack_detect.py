"""Buildpack detection order, app.json validation, pipeline stages, the pre-receive hook's refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import PaasError
from paas.builds.appsetup import parse_manifest
from paas.builds.buildpacks.common import files_digest
from paas.builds.buildpacks.python import fix_shebangs, requested_version
from paas.builds.compile import BuildFailed, choose_compiler, default_compilers
from paas.builds.pipelines import infer_stage, next_stage
from paas.control.values import FormationChange

HOOK = Path(__file__).resolve().parents[2] / "paas" / "builds" / "git_hook.py"


def make(tmp_path: Path, *files: str) -> Path:
    for name in files:
        (tmp_path / name).write_text("{}" if name.endswith(".json") else "x\n")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (("requirements.txt", "Procfile"), "Python"),
        (("pyproject.toml",), "Python"),
        (("uv.lock", "package.json"), "Python"),  # Python is detected first
        (("package.json", "index.html"), "Node.js"),
        (("index.html",), "Static site"),
        (("Dockerfile", "Procfile"), "Dockerfile"),
        (("requirements.txt", "Dockerfile"), "Python"),  # a Dockerfile only wins on the container stack
        (("Procfile",), "Procfile"),
    ],
)
def test_detection_order(tmp_path: Path, files: tuple[str, ...], expected: str) -> None:
    assert choose_compiler(default_compilers(), make(tmp_path, *files)).name == expected


def test_container_stack_uses_the_dockerfile_or_refuses(tmp_path: Path) -> None:
    src = make(tmp_path, "requirements.txt", "Dockerfile")
    assert choose_compiler(default_compilers(), src, "container").name == "Dockerfile"
    (src / "Dockerfile").unlink()
    with pytest.raises(BuildFailed, match="container stack needs a Dockerfile"):
        choose_compiler(default_compilers(), src, "container")


def test_dependency_hash_follows_manifests_only(tmp_path: Path) -> None:
    make(tmp_path, "requirements.txt", "app.py")
    first = files_digest(tmp_path, ("requirements.txt", "pyproject.toml"), ("python3.11",))
    (tmp_path / "app.py").write_text("changed\n")
    assert files_digest(tmp_path, ("requirements.txt", "pyproject.toml"), ("python3.11",)) == first
    (tmp_path / "requirements.txt").write_text("humanize\n")
    assert files_digest(tmp_path, ("requirements.txt", "pyproject.toml"), ("python3.11",)) != first
    assert files_digest(tmp_path, ("requirements.txt",), ("python3.12",)) != files_digest(
        tmp_path, ("requirements.txt",), ("python3.11",)
    )


def test_console_scripts_follow_path_and_python_version_is_read(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/tmp/build/venv/bin/python\nprint('hi')\n")
    other = tmp_path / "data"
    other.write_text("#!/bin/sh\necho hi\n")
    fix_shebangs(tmp_path)
    assert script.read_text() == "#!/usr/bin/env python3\nprint('hi')\n"
    assert other.read_text() == "#!/bin/sh\necho hi\n"
    (tmp_path / "runtime.txt").write_text("python-3.12.1\n")
    assert requested_version(tmp_path) == "3.12.1"


def test_app_json_env_generators_and_errors() -> None:
    manifest = parse_manifest(
        {
            "env": {
                "SECRET_KEY": {"generator": "secret"},
                "WELCOME": {"value": "hi", "description": "greeting"},
                "PLAIN": "text",
                "OPTIONAL": {"required": False},
            },
            "formation": {"web": {"quantity": 2, "size": "standard-2x"}, "worker": {"quantity": 0}},
            "scripts": {"postdeploy": "python seed.py"},
            "addons": ["heroku-postgresql", {"plan": "heroku-kafka:basic-0", "as": "events"}],
        },
        {"PLAIN": "override"},
    )
    assert len(manifest.env["SECRET_KEY"]) == 64
    assert manifest.env["WELCOME"] == "hi" and manifest.env["PLAIN"] == "override"
    assert "OPTIONAL" not in manifest.env
    assert manifest.formation == [
        FormationChange("web", 2, "standard-2x"),
        FormationChange("worker", 0),
    ]
    assert manifest.postdeploy == "python seed.py"
    assert manifest.addons == [("heroku-postgresql", None), ("heroku-kafka:basic-0", "EVENTS")]
    second = parse_manifest({"env": {"SECRET_KEY": {"generator": "secret"}}}, {})
    assert second.env["SECRET_KEY"] != manifest.env["SECRET_KEY"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must contain a JSON object"),
        ({"env": {"TOKEN": {"required": True}}}, "config var TOKEN is required"),
        ({"env": {"TOKEN": {"generator": "uuid"}}}, 'generator must be "secret"'),
        ({"env": {"BAD-NAME": "x"}}, "Invalid config var name"),
        ({"formation": {"web": {"quantity": -1}}}, "quantity must be a whole number"),
        ({"formation": {"web": 2}}, "formation.web must be an object"),
        ({"addons": [42]}, "each add-on is a plan string"),
        ({"scripts": {"postdeploy": ""}}, "postdeploy must be a command string"),
    ],
)
def test_app_json_rejections(data: object, message: str) -> None:
    with pytest.raises(PaasError, match=message) as info:
        parse_manifest(data, {})
    assert info.value.status == 422


def test_pipeline_stage_inference() -> None:
    assert infer_stage("shop-staging") == "staging"
    assert infer_stage("shop-stg") == "staging"
    assert infer_stage("shop-prod") == "production"
    assert infer_stage("shop-dev") == "development"
    assert infer_stage("shop-qa") == "development"
    assert infer_stage("shop") is None
    assert next_stage("development") == "staging"
    assert next_stage("staging") == "production"
    assert next_stage("review") == "staging"
    assert next_stage("production") is None


def run_hook(stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    env.update(PAAS_HOOK_APP="demo", PAAS_HOOK_API="http://127.0.0.1:9", PAAS_HOOK_TOKEN="t")
    return subprocess.run(
        [sys.executable, str(HOOK)], input=stdin, capture_output=True, text=True, env=env, timeout=30
    )


def test_hook_refuses_several_branches_and_deleting_main() -> None:
    zero, sha = "0" * 40, "a" * 40
    other = run_hook(f"{zero} {sha} refs/heads/feature\n")  # the daemon decides (review apps)
    assert other.returncode == 1 and "Lost the connection to the paas daemon" in other.stdout
    assert "Push rejected to demo." in other.stdout
    mixed = run_hook(f"{zero} {sha} refs/heads/main\n{zero} {sha} refs/heads/feature\n")
    assert mixed.returncode == 1 and "Push one branch at a time, not main, feature." in mixed.stdout
    delete = run_hook(f"{sha} {zero} refs/heads/main\n")
    assert delete.returncode == 1 and "Deleting main is not allowed" in delete.stdout
    both = run_hook(f"{zero} {sha} refs/heads/main\n{zero} {sha} refs/heads/master\n")
    assert both.returncode == 1 and "not both at once" in both.stdout
    unreachable = run_hook(f"{zero} {sha} refs/heads/master\n")  # nothing listens on port 9
    assert unreachable.returncode == 1 and "Lost the connection to the paas daemon" in unreachable.stdout
