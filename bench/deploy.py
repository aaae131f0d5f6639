"""Benchmark: from `git push` to the new release answering through the router, cold and warm.

Starts a real daemon (`paas daemon`, throw-away PAAS_HOME, free ports, process runtime), then
for each sample app creates an app, a git working copy and the `paas` remote (`paas
git:remote`), and times:

  cold   the first push: a new bare repository, buildpack detection, for the Python app a new
         virtual environment and `pip install` (empty dependency cache), release, first boot;
  warm   a push that changes only code (dependency cache hit), release, restart.

Each timing runs from just before `git push paas main` until `GET /` through the router (Host:
<app>.localhost) returns the page of the new commit (polled every 10 ms). It also prints the
push alone (git's view: upload + build + release, the hook waits for the release) and the
server-side build duration.

    .venv/bin/python bench/deploy.py [--rounds 5] [--apps python-humanize,hello]

Target: warm push to serving under 3 s on the process runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from daemon_env import daemon_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# the text each app shows that a round replaces with its own marker
MARKERS = {"python-humanize": "Hello from", "hello": "Hello from paas!"}
TARGET_WARM = 3.0


def start_daemon(home: Path) -> tuple[subprocess.Popen[bytes], dict[str, object], str]:
    env = daemon_env(home)
    exe = Path(sys.executable).with_name("paas")
    log = open(home / "daemon.log", "wb")  # noqa: SIM115  (lives as long as the daemon)
    proc = subprocess.Popen([str(exe), "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited: {(home / 'daemon.log').read_text()[-2000:]}")
        try:
            info = json.loads((home / "daemon.json").read_text())
            return proc, info, (home / "token").read_text().strip()
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the daemon did not start within 60 s")


class Bench:
    def __init__(self, home: Path, info: dict[str, object], token: str, work: Path):
        self.home = home
        self.api = str(info["api_url"])
        self.router = f"http://127.0.0.1:{info['router_port']}"
        self.http = httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.work = work
        self.env = dict(os.environ, PAAS_HOME=str(home), HOME=str(work), GIT_CONFIG_NOSYSTEM="1",
                        GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                        GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")  # fmt: skip
        self.env.pop("PAAS_API_URL", None)

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def prepare(self, example: str) -> tuple[str, Path]:
        name = f"bench-{example}"[:30].rstrip("-")
        self.http.post("/apps", json={"name": name}).raise_for_status()
        src = self.work / name
        shutil.copytree(EXAMPLES / example, src)
        self.run("git", "init", "-q", "-b", "main", cwd=src)
        self.run("git", "add", "-A", cwd=src)
        self.run("git", "commit", "-q", "-m", "initial", cwd=src)
        self.run(str(Path(sys.executable).with_name("paas")), "git:remote", "-a", name, cwd=src)
        return name, src

    def wait_serving(self, app: str, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(headers={"Host": f"{app}.localhost"}, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    r = client.get(self.router + "/")
                    if r.status_code == 200 and text in r.text:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        raise SystemExit(f"{app} did not serve {text!r} within {timeout} s")

    def push_and_serve(self, app: str, src: Path, marker: str) -> tuple[float, float, float]:
        """(push → serving, push alone, server-side build duration) in seconds."""
        started = time.monotonic()
        self.run("git", "push", "-q", "paas", "main", cwd=src)
        pushed = time.monotonic()
        self.wait_serving(app, marker)
        served = time.monotonic()
        build = self.http.get(f"/apps/{app}/builds").json()[-1]
        if build["status"] != "succeeded":
            raise SystemExit(f"build of {app} did not succeed: {build}")
        return served - started, pushed - started, float(build["duration"] or 0)

    def change(self, src: Path, current: str, marker: str) -> None:
        """A code-only commit: the page text `current` becomes `marker`."""
        path = src / "app.py"
        path.write_text(path.read_text().replace(current, marker))
        self.run("git", "commit", "-q", "-am", marker, cwd=src)


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):5.2f} s  min {min(values):5.2f} s  max {max(values):5.2f} s"
        if values
        else "-"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="warm pushes per app (default 5)")
    parser.add_argument("--apps", default="python-humanize,hello", help="examples to deploy, comma separated")
    args = parser.parse_args()
    examples = [a.strip() for a in args.apps.split(",") if a.strip()]
    for example in examples:
        if example not in MARKERS:
            raise SystemExit(f"unknown example {example!r}; choose from {', '.join(MARKERS)}")
    tmp = Path(tempfile.mkdtemp(prefix="paas-bench-deploy-"))
    home = tmp / "home"
    home.mkdir()
    proc, info, token = start_daemon(home)
    rows: list[tuple[str, float, float, float, list[tuple[float, float, float]]]] = []
    try:
        bench = Bench(home, info, token, tmp)
        for example in examples:
            app, src = bench.prepare(example)
            bench.change(src, MARKERS[example], "Cold round")
            cold = bench.push_and_serve(app, src, "Cold round")
            current, warm = "Cold round", []
            for round_no in range(1, args.rounds + 1):
                marker = f"Warm round {round_no}"
                bench.change(src, current, marker)
                warm.append(bench.push_and_serve(app, src, marker))
                current = marker
            rows.append((example, *cold, warm))
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()
    print(f"git push → new release answering through the router (process runtime, {args.rounds} warm rounds)")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(1 / 5 / 15 min) — other work on the machine slows every figure"
    )
    ok = True
    for example, cold_total, cold_push, cold_build, warm in rows:
        totals = [w[0] for w in warm]
        print(f"\n{example}")
        print(
            f"  cold  push→serving {cold_total:5.2f} s   (git push {cold_push:5.2f} s, build+release {cold_build:5.2f} s)"
        )
        print(f"  warm  push→serving {fmt(totals)}")
        print(f"        git push     {fmt([w[1] for w in warm])}")
        print(f"        build+release {fmt([w[2] for w in warm])}")
        if totals:
            median = statistics.median(totals)
            verdict = "OK" if median < TARGET_WARM else "MISSED"
            ok = ok and median < TARGET_WARM
            print(
                f"  target warm < {TARGET_WARM:g} s: {verdict} (median {median:.2f} s, "
                f"cold/warm {cold_total / median:.1f}x)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
