"""schemathesis against the daemon's own `/openapi.json`: no 5xx, every answer documented, 405s
with `Allow`, the bearer token required where the spec says so.

Bounded: a fixed number of cases per operation (`PAAS_FUZZ_EXAMPLES`, default 10) and a fixed
seed (`PAAS_FUZZ_SEED`), so a run is repeatable; change the seed to explore. The run takes about a
minute on two busy cores. Identifiers that exist (an app, a Kafka add-on and topic, a pipeline)
are handed to schemathesis as dictionaries, so most cases get past the 404 into real validation.

Left out, and why: the endless streams (`/events`, `/apps/{app}/log-stream`; the Kafka tail is
given an idle timeout instead), and one-off dynos on an existing app (`POST /apps/{app}/dynos`
would run generated text as shell commands on this machine; on unknown apps it is fuzzed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
)


RISKY = '"DELETE /apps/{app}", "PATCH /apps/{app}", "POST /apps/{app}/dynos"'
TAIL = '"GET /apps/{app}/kafka/{addon}/topics/{topic}/tail"'
NAMES = (
    '"path.app" = { dictionary = "apps", probability = 0.8 }, '
    '"path.addon" = { dictionary = "addons", probability = 0.8 }, '
    '"path.topic" = { dictionary = "topics", probability = 0.8 }, '
    '"path.pipeline" = { dictionary = "pipelines", probability = 0.8 }'
)


def _config(addon: str) -> str:
    """Known names for path parameters (80 % of the time); the first block that matches an
    operation applies to it."""
    return f"""
[dictionaries.apps]
values = ["fuzz"]
[dictionaries.spare]
values = ["spare"]
[dictionaries.addons]
values = ["{addon}"]
[dictionaries.topics]
values = ["events"]
[dictionaries.pipelines]
values = ["fuzzpipe"]

# what renames or destroys an app, or runs commands, gets the spare app or an unknown one,
# never a name seen in another response
[[operations]]
include-name = [{RISKY}]
parameters = {{ "path.app" = {{ dictionary = "spare", probability = 0.5 }} }}
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false

# a stream: it ends after half a second without records
[[operations]]
include-name = {TAIL}
parameters = {{ "query.idle_timeout" = 0.5, {NAMES} }}

[[operations]]
exclude-name = [{RISKY}, {TAIL}]
parameters = {{ {NAMES} }}
"""


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    daemon: DaemonThread, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    c = daemon.client()
    for name in ("fuzz", "spare"):
        assert c.post("/apps", json={"name": name}).status_code == 201
    addon = c.post("/apps/fuzz/addons", json={"plan": "heroku-kafka:basic-0"}).json()["name"]
    assert c.post(f"/apps/fuzz/kafka/{addon}/topics", json={"topic": {"name": "events"}}).status_code == 201
    assert c.post("/pipelines", json={"name": "fuzzpipe"}).status_code == 201
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(addon))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{daemon.api_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {daemon.d.token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("PAAS_FUZZ_EXAMPLES", "10"),
        "--seed",
        os.environ.get("PAAS_FUZZ_SEED", "20261205"),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--exclude-path",
        "/events",
        "--exclude-path",
        "/apps/{app}/log-stream",
        "--exclude-path",  # builds the stack's Docker image: minutes of a loaded engine per example
        "/stack/builds",
    ]
    capfd.readouterr()
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report = run.stdout[-20000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "passed" in run.stdout and "generated" in run.stdout
    # the daemon kept serving and logged no internal error along the way
    assert daemon.d.internal_errors == 0
    assert "Traceback" not in capfd.readouterr().err
    assert c.get("/apps/fuzz").status_code == 200  # the known names stayed usable all along


def test_the_spec_documents_the_answers_and_the_token(daemon: DaemonThread) -> None:
    spec = daemon.client().get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The daemon's token, kept in `PAAS_HOME/token` (0600)",
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    op = spec["paths"]["/apps/{app}/kafka/{addon}/topics"]["post"]
    assert sorted(op["responses"]) == ["201", "400", "401", "404", "409", "413", "422", "503"]
    assert op["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert op["security"] == [{"bearer": []}]
    assert sorted(spec["paths"]["/apps"]["post"]["responses"]) == ["201", "400", "401", "413", "422"]
    assert sorted(spec["paths"]["/health"]["get"]["responses"]) == ["200"]
    assert "security" not in spec["paths"]["/dataclips/api/clips"]["get"]


def test_a_405_names_every_method_the_path_takes(daemon: DaemonThread) -> None:
    c = daemon.client()
    for method, path, allow in (
        ("PUT", "/apps", "GET, POST"),
        ("TRACE", "/apps/x", "DELETE, GET, PATCH"),
        ("POST", "/health", "GET"),
    ):
        r = c.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.headers["allow"] == allow, (method, path)
        assert r.json() == {"id": "method_not_allowed", "message": "Method Not Allowed"}
