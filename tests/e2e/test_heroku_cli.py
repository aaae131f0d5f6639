"""The official Heroku CLI (npm `heroku`, pinned) drives a real `paas daemon`, unchanged.

Everything the user types is `heroku ...` (and `git push heroku main`) after `eval "$(paas env)"`:
apps, config, releases, git deploys over TLS with the local CA, `run` over the rendezvous
protocol (attached, --no-tty, exit codes, Ctrl-C, detached), logs (-n, -s, -d, -t), add-ons and
Heroku Postgres (pg:info, pg:psql -c, pg:backups capture and restore), log drains, webhooks,
ACM certificates, pipelines and promotion, domains, labs, maintenance, rename and destroy. Each step asserts the exit code and the lines a user reads. The tests of
this module share one daemon and run in order (each builds on the app the previous ones made).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.herokucli import HerokuCli, ensure_heroku_cli
from tests.support.pg import admin_url
from tests.support.procs import DaemonProcess
from tests.support.require import require

# one worker runs the whole module, in order (`--dist loadgroup` in scripts/test.sh)
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("heroku-cli")]

APP = "hk-app"
PROD = "hk-prod"
WEB = "import http.server, os\n" + (
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from hk-app')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
)
PROCFILE = "web: python3 web.py\nrelease: echo release-phase-ran-$RELEASE_MARK\n"


class Platform:
    def __init__(self, daemon: DaemonProcess, heroku: HerokuCli, api: httpx.Client, work: Path):
        self.daemon = daemon
        self.heroku = heroku
        self.api = api
        self.work = work

    def paas(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.cli(*args)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}\n{self.daemon.output()[-3000:]}")

    def dynos(self, app: str) -> list[dict[str, object]]:
        return list(self.api.get(f"/apps/{app}/dynos").json())


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    binary = ensure_heroku_cli()
    require(shutil.which("git") is not None, "git")
    require(shutil.which("psql") is not None, "psql (Debian postgresql-client)")
    root = tmp_path_factory.mktemp("heroku-cli")
    home = root / "paas-home"
    home.mkdir(mode=0o700)
    daemon = DaemonProcess(home, PAAS_POSTGRES_URL=admin_url())
    try:
        daemon.wait_ready()
        exports = daemon.cli("env", "--json")
        assert exports.returncode == 0, exports.stderr
        shown = daemon.cli("env")
        assert "export HEROKU_HOST=http://127.0.0.1:" in shown.stdout
        heroku = HerokuCli.for_daemon(binary, json.loads(exports.stdout), root / "user-home")
        token = (home / "token").read_text().strip()
        api_url = json.loads((home / "daemon.json").read_text())["api_url"]
        with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            yield Platform(daemon, heroku, api, root)
    finally:
        daemon.terminate()


def test_apps_account_and_config(platform: Platform) -> None:
    h = platform.heroku
    created = h("apps:create", APP).ok()
    assert f"Creating {APP}... done" in created.output
    assert f"http://{APP}.localhost:" in created.stdout
    apps, info, ps, releases, labs, features, domains, addons, whoami = h.many(
        [
            ("apps",),
            ("apps:info", "-a", APP),
            ("ps", "-a", APP),
            ("releases", "-a", APP),
            ("labs", "-a", APP),
            ("features", "-a", APP),
            ("domains", "-a", APP),
            ("addons", "-a", APP),
            ("auth:whoami",),
        ]
    )
    assert "=== local@paas Apps" in apps.ok().stdout and f"{APP} (local)" in apps.stdout
    assert f"=== {APP}" in info.ok().stdout
    assert re.search(r"^Owner:\s+local@paas$", info.stdout, re.M)
    assert re.search(r"^Slug Size:\s+0 B$", info.stdout, re.M)  # numbers, not a TypeError
    assert f"No dynos on {APP}" in ps.ok().output
    assert re.search(r"^\s+v2\s+Enable Logplex\s+local@paas", releases.ok().stdout, re.M)
    assert "[ ] runtime-dyno-metadata" in labs.ok().stdout and "preboot" not in labs.stdout
    assert "[ ] preboot" in features.ok().stdout
    assert f"{APP}.localhost" in domains.ok().stdout
    assert f"No add-ons for app {APP}." in addons.ok().stdout
    assert whoami.ok().stdout.strip() == "local@paas"

    set_var = h("config:set", "GREETING=hello", "-a", APP).ok()
    assert "done, v3" in set_var.output  # the new release's version, not v1
    assert h("config:get", "GREETING", "-a", APP).ok().stdout.strip() == "hello"
    ours = json.loads(platform.paas("config", "-a", APP, "--json").stdout)
    theirs = json.loads(h("config", "-a", APP, "--json").ok().stdout)
    assert ours == theirs == {"GREETING": "hello"}


def test_git_push_heroku_main_over_tls(platform: Platform) -> None:
    h = platform.heroku
    repo = platform.work / "app"
    repo.mkdir()
    (repo / "web.py").write_text(WEB)
    (repo / "Procfile").write_text(PROCFILE)
    assert h.git("init", "-q", "-b", "main", cwd=repo).returncode == 0
    h.git("add", "-A", cwd=repo)
    assert h.git("commit", "-qm", "first", cwd=repo).returncode == 0
    h("config:set", "RELEASE_MARK=one", "-a", APP).ok()
    remote = h("git:remote", "-a", APP, cwd=repo).ok()
    url = re.search(r"set git remote heroku to (https://127\.0\.0\.1:\d+/hk-app\.git)", remote.stdout)
    assert url is not None, remote.output
    assert h.git("remote", "get-url", "heroku", cwd=repo).stdout.strip() == url.group(1)
    pushed = h.git("push", "heroku", "main", cwd=repo)
    assert pushed.returncode == 0, pushed.stderr
    assert "remote: Verifying deploy... done." in pushed.stderr
    assert "release-phase-ran-one" in pushed.stderr  # the release phase's output, streamed back
    platform.wait_for(
        "web.1 up", lambda: any(d["name"] == "web.1" and d["state"] == "up" for d in platform.dynos(APP))
    )
    ps, output, info = h.many(
        [("ps", "-a", APP), ("releases:output", "-a", APP), ("releases:info", "-a", APP)]
    )
    assert re.search(r"^web\.1: up ", ps.ok().stdout, re.M)
    assert "=== web (Standard-1X): python3 web.py (1)" in ps.stdout
    assert "release-phase-ran-one" in output.ok().stdout
    assert re.search(r"^=== Release v5$", info.ok().stdout, re.M) and "RELEASE_MARK: one" in info.stdout


def test_run_attached_exit_codes_no_tty_and_detached(platform: Platform) -> None:
    h = platform.heroku
    hello, false, seven = h.many(
        [
            ("run", "-a", APP, "--", "echo", "hello from a dyno"),
            ("run", "-x", "-a", APP, "--", "false"),
            ("run", "-x", "-a", APP, "--", "sh", "-c", "exit 7"),
        ]
    )
    assert "hello from a dyno" in hello.ok().stdout.splitlines()
    assert false.code == 1 and "Process exited with code 1" in false.stderr
    assert seven.code == 7 and "Process exited with code 7" in seven.stderr
    # stdin piped through the rendezvous; the CLI's Ctrl-D at its end closes the dyno's stdin
    piped = h("run", "--no-tty", "-a", APP, "--", "tr", "a-z", "A-Z", input="piped words\n")
    assert "PIPED WORDS" in piped.ok().stdout.splitlines()
    detached = h("run:detached", "-a", APP, "--", "echo", "detached-hello").ok()
    named = re.search(r"heroku logs --app hk-app --dyno (run\.\d+)", detached.stdout)
    assert named is not None, detached.output

    def logged() -> bool:
        return "detached-hello" in h("logs", "-a", APP, "-d", named.group(1)).ok().stdout

    platform.wait_for("the detached dyno's output in its logs", logged, timeout=30)


def test_run_ctrl_c_hangs_up_the_dyno(platform: Platform) -> None:
    h = platform.heroku
    proc = h.popen("run", "-a", APP, "--", "sleep", "300")
    try:

        def running() -> list[str]:
            return [str(d["name"]) for d in platform.dynos(APP) if d["type"] == "run" and d["state"] == "up"]

        platform.wait_for("the one-off up", lambda: bool(running()), timeout=60)
        (name,) = running()
        time.sleep(1)  # the CLI has its SIGINT handler once it is attached
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    platform.wait_for(
        "the one-off gone", lambda: name not in [d["name"] for d in platform.dynos(APP)], timeout=60
    )
    log = h("logs", "-a", APP, "-n", "200", "-d", name).ok().stdout
    assert "Client connection closed. Sending SIGHUP to all processes" in log


def test_logs_lines_source_dyno_and_tail(platform: Platform) -> None:
    h = platform.heroku
    recent, heroku_only, api_only = h.many(
        [
            ("logs", "-a", APP, "-n", "200"),
            ("logs", "-a", APP, "-n", "200", "-s", "heroku"),
            ("logs", "-a", APP, "-n", "200", "-s", "app", "-d", "api"),
        ]
    )
    assert "app[api]: Set GREETING config vars by user local@paas" in recent.ok().stdout
    assert "heroku[web.1]: State changed from starting to up" in recent.stdout
    assert heroku_only.ok().stdout and all(" heroku[" in line for line in heroku_only.stdout.splitlines())
    assert api_only.ok().stdout and all(" app[api]: " in line for line in api_only.stdout.splitlines())

    tail = h.popen("logs", "-t", "-a", APP)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(tail.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        platform.wait_for("the tail's backlog", lambda: len(seen) > 0, timeout=30)
        h("config:set", "TAILED=yes", "-a", APP).ok()
        platform.wait_for(
            "the live line on the tail", lambda: any("Set TAILED config vars" in s for s in seen), 30
        )
    finally:
        tail.kill()
        tail.wait()


def test_ps_maintenance_domains_labs_rollback(platform: Platform) -> None:
    h = platform.heroku
    assert f"Restarting all dynos on {APP}... done" in h("ps:restart", "-a", APP).ok().output
    assert "Scaling dynos... done, now running web at 2:" in h("ps:scale", "web=2", "-a", APP).ok().output
    platform.wait_for("web.2", lambda: any(d["name"] == "web.2" for d in platform.dynos(APP)))
    assert (
        "Restarting all web dynos on hk-app... done"
        in h("ps:restart", "--process-type", "web", "-a", APP).ok().output
    )
    assert (
        "Stopping dyno web.2 on hk-app... done" in h("ps:stop", "--dyno-name", "web.2", "-a", APP).ok().output
    )

    assert "Enabling maintenance mode for hk-app... done" in h("maintenance:on", "-a", APP).ok().output
    assert h("maintenance", "-a", APP).ok().stdout.strip() == "on"
    assert "Disabling maintenance mode for hk-app... done" in h("maintenance:off", "-a", APP).ok().output

    assert (
        "Adding www.hk-app.test to hk-app... done"
        in h("domains:add", "www.hk-app.test", "-a", APP).ok().output
    )
    assert "www.hk-app.test" in h("domains", "-a", APP).ok().stdout
    assert "done" in h("domains:remove", "www.hk-app.test", "-a", APP).ok().output

    assert "done" in h("labs:enable", "runtime-dyno-metadata", "-a", APP).ok().output
    assert re.search(
        r"^Enabled:\s+true$", h("labs:info", "runtime-dyno-metadata", "-a", APP).ok().stdout, re.M
    )
    assert "done" in h("features:enable", "preboot", "-a", APP).ok().output
    rolled = h("rollback", "-a", APP).ok()
    assert re.search(r"Rolling back hk-app to v\d+... done, v\d+", rolled.output)
    ours = [r["version"] for r in json.loads(platform.paas("releases", "-a", APP, "--json").stdout)]
    theirs = [r["version"] for r in json.loads(h("releases", "-a", APP, "--json").ok().stdout)]
    assert sorted(ours) == sorted(theirs) and max(theirs) == max(ours)


def test_addons_and_heroku_postgres(platform: Platform) -> None:
    h = platform.heroku
    created = h("addons:create", "heroku-postgresql", "-a", APP, timeout=180).ok()
    name = re.search(r"Created (postgresql-[a-z]+-\d+) as DATABASE_URL", created.stdout)
    assert name is not None, created.output
    listed, everywhere, info, pg = h.many(
        [("addons", "-a", APP), ("addons",), ("addons:info", "DATABASE", "-a", APP), ("pg:info", "-a", APP)]
    )
    assert f"heroku-postgresql ({name.group(1)})" in listed.ok().stdout and "as DATABASE" in listed.stdout
    assert name.group(1) in everywhere.ok().stdout
    assert f"=== {name.group(1)}" in info.ok().stdout and "Attachments:  hk-app::DATABASE" in info.stdout
    assert "=== DATABASE_URL" in pg.ok().stdout
    assert re.search(r"^Plan:\s+Essential 0$", pg.stdout, re.M)
    assert re.search(r"^Add-on:\s+" + name.group(1) + "$", pg.stdout, re.M)
    ours = platform.paas("pg:info", "-a", APP).stdout.splitlines()
    assert [line for line in ours if line.startswith("Plan:")] == [
        line for line in pg.stdout.splitlines() if line.startswith("Plan:")
    ]
    answer = h("pg:psql", "-a", APP, "-c", "select 40 + 2 as answer").ok()
    assert re.search(r"^\s+42$", answer.stdout, re.M) and "(1 row)" in answer.stdout
    destroyed = h("addons:destroy", "DATABASE", "-a", APP, "--confirm", APP, timeout=120).ok()
    assert f"Destroying {name.group(1)} on hk-app... done" in destroyed.output
    assert f"No add-ons for app {APP}." in h("addons", "-a", APP).ok().stdout


def test_drains_webhooks_acm_and_pg_backups(platform: Platform) -> None:
    h = platform.heroku
    drain = "syslog+tls://127.0.0.1:6514"
    assert f"Successfully added drain {drain}" in h("drains:add", drain, "-a", APP).ok().output
    assert re.search(rf"^{re.escape(drain)} \(d\.[0-9a-f-]+\)$", h("drains", "-a", APP).ok().stdout, re.M)
    assert f"Successfully removed drain {drain}" in h("drains:remove", drain, "-a", APP).ok().output

    hook = "https://127.0.0.1:9/hook"
    added = h("webhooks:add", "-i", "api:release", "-l", "notify", "-u", hook, "-a", APP).ok()
    assert (
        "=== Webhooks Signing Secret" in added.output and f"Adding webhook to {APP}... done" in added.output
    )
    assert re.search(rf"{re.escape(hook)}\s+api:release\s+notify", h("webhooks", "-a", APP).ok().stdout)

    h("domains:add", "www.hk-acm.test", "-a", APP).ok()
    assert "Enabling Automatic Certificate Management" in h("certs:auto:enable", "-a", APP).ok().output
    platform.wait_for(
        "ACM's certificate",
        lambda: bool(re.search(r"www\.hk-acm\.test\s+Cert issued", h("certs:auto", "-a", APP).ok().stdout)),
    )
    listed = h("certs", "-a", APP).ok().stdout  # ACM's certificate is listed, as on Heroku
    assert re.search(r"www\.hk-acm\.test\s+.*\s+ACM", listed), listed

    created = h("addons:create", "heroku-postgresql", "-a", APP, timeout=180).ok()
    addon = re.search(r"Created (postgresql-[a-z]+-\d+) as DATABASE_URL", created.stdout)
    assert addon is not None, created.output
    h("pg:psql", "-a", APP, "-c", "create table kept (x int); insert into kept values (42)").ok()
    captured = h("pg:backups:capture", "-a", APP, timeout=180).ok()
    assert "Backing up DATABASE to b001" in captured.output
    assert re.search(r"^\s*b001\s+.*Completed", h("pg:backups", "-a", APP).ok().stdout, re.M)
    h("pg:psql", "-a", APP, "-c", "drop table kept").ok()
    restored = h("pg:backups:restore", "b001", "DATABASE_URL", "-a", APP, "--confirm", APP, timeout=180).ok()
    assert f"Starting restore of b001 to {addon.group(1)}... done" in restored.output
    platform.wait_for(
        "the restored table",
        lambda: bool(re.search(r"^\s+42$", h("pg:psql", "-a", APP, "-c", "select x from kept").stdout, re.M)),
    )
    # a second attachment is refused with a reason, not a crash
    attach = h("addons:attach", addon.group(1), "-a", APP, "--as", "SECOND_DB")
    assert attach.code != 0 and "attaches each add-on only to the app that owns it" in attach.output
    h("addons:destroy", "DATABASE", "-a", APP, "--confirm", APP, timeout=120).ok()


def test_pipelines_promote_rename_destroy(platform: Platform) -> None:
    h = platform.heroku
    h("apps:create", PROD).ok()
    created = h("pipelines:create", "hk-pipe", "-a", APP, "--stage", "staging").ok()
    assert "Adding hk-app to hk-pipe pipeline as staging... done" in created.output
    h("pipelines:add", "hk-pipe", "-a", PROD, "--stage", "production").ok()
    info, listed = h.many([("pipelines:info", "hk-pipe"), ("pipelines",)])
    assert re.search(r"^\s*hk-prod\s+production\s*$", info.ok().stdout, re.M)
    assert "hk-pipe" in listed.ok().stdout
    promoted = h("pipelines:promote", "-a", APP, timeout=180).ok()
    assert "Promotion successful" in promoted.stdout and re.search(
        r"^hk-prod:\s+succeeded$", promoted.stdout, re.M
    )
    assert "Promote hk-app v" in h("releases", "-a", PROD).ok().stdout
    assert "done" in h("pipelines:remove", "-a", PROD).ok().output
    assert "done" in h("pipelines:destroy", "hk-pipe").ok().output

    renamed = h("apps:rename", "hk-prod-2", "-a", PROD).ok()
    assert "Renaming hk-prod to hk-prod-2... done" in renamed.output
    destroyed = h("apps:destroy", "hk-prod-2", "--confirm", "hk-prod-2").ok()
    assert "Destroying hk-prod-2 (including all add-ons)... done" in destroyed.output
    gone = h("apps:info", "-a", "hk-prod-2")
    assert gone.code != 0 and "Couldn't find that app." in gone.stderr
    assert "hk-prod" not in h("apps").ok().stdout
    assert len(h.calls) >= 40, f"only {len(h.calls)} heroku invocations in this module"
