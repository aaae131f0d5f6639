"""The official Heroku CLI (npm `heroku`, pinned) and its schema types, installed once under `.venv`.

`ensure_heroku_cli()` runs `npm install` into `<venv>/heroku-cli` the first time (or when the
pinned versions change) and reuses it afterwards: no download when it is already there.
`HerokuCli` runs `heroku ...` with the environment `paas env` prints, a private HOME (the CLI
writes a git credential helper into the global git config and caches under HOME), and nothing
that would reach beyond loopback (telemetry, analytics and the update check are off).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.require import require

HEROKU_VERSION = "11.10.0"
SCHEMA_VERSION = "2.0.1"
PREFIX = Path(sys.prefix) / "heroku-cli"  # inside the test venv: ignored by git, kept between runs
HEROKU_BIN = PREFIX / "node_modules" / ".bin" / "heroku"
SCHEMA_TYPES = PREFIX / "node_modules" / "@heroku-cli" / "schema" / "lib" / "index.d.ts"


def _installed(package: str) -> str | None:
    manifest = PREFIX / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_heroku_cli() -> Path:
    """The pinned `heroku` binary (installed now if missing); skips (fails in CI) without npm.

    One install at a time: two test workers running `npm install` into the same prefix at once
    break each other (ENOTEMPTY, a half-written node_modules)."""
    if _installed("heroku") == HEROKU_VERSION and _installed("@heroku-cli/schema") == SCHEMA_VERSION:
        return HEROKU_BIN
    PREFIX.mkdir(parents=True, exist_ok=True)
    with (PREFIX.parent / "heroku-cli.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_heroku_cli()


def _install_heroku_cli() -> Path:
    if _installed("heroku") == HEROKU_VERSION and _installed("@heroku-cli/schema") == SCHEMA_VERSION:
        return HEROKU_BIN  # another worker installed it while we waited
    npm = shutil.which("npm")
    require(
        npm is not None and shutil.which("node") is not None, "node and npm (for the official heroku CLI)"
    )
    assert npm is not None
    PREFIX.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(PREFIX),
            f"heroku@{HEROKU_VERSION}",
            f"@heroku-cli/schema@{SCHEMA_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    require(result.returncode == 0, f"npm install heroku@{HEROKU_VERSION} failed: {result.stderr[-500:]}")
    return HEROKU_BIN


def ensure_schema_types() -> Path:
    ensure_heroku_cli()
    return SCHEMA_TYPES


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def ok(self) -> Result:
        assert self.code == 0, f"heroku {' '.join(self.args)} exited {self.code}:\n{self.output}"
        return self


@dataclass
class HerokuCli:
    """`heroku ...` pointed at one paas daemon; counts the invocations it made."""

    binary: Path
    env: dict[str, str]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    @classmethod
    def for_daemon(cls, binary: Path, paas_env: dict[str, str], home: Path) -> HerokuCli:
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEROKU_", "GIT_"))}
        env.update(paas_env)
        env.update(
            {
                "HOME": str(home),
                # as installed: `heroku` on PATH (git runs `heroku git:credentials` for the password)
                "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "XDG_CACHE_HOME": str(home / ".cache"),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local" / "share"),
                "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
                "NO_COLOR": "1",
                "FORCE_COLOR": "0",
                "TERM": "dumb",
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_AUTHOR_NAME": "paas test",
                "GIT_AUTHOR_EMAIL": "test@paas.invalid",
                "GIT_COMMITTER_NAME": "paas test",
                "GIT_COMMITTER_EMAIL": "test@paas.invalid",
            }
        )
        return cls(binary, env)

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), *args]

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 90, cwd: Path | None = None
    ) -> Result:
        self.calls.append(args)
        done = subprocess.run(
            self.command(*args),
            env=self.env,
            capture_output=True,
            text=True,
            input=input if input is not None else "",
            timeout=timeout,
            cwd=cwd,
        )
        return Result(args, done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        self.calls.append(args)
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
        )

    def many(self, commands: Iterable[Sequence[str]], workers: int = 3) -> list[Result]:
        """Independent read-only commands side by side (each CLI start costs ~1 s of node)."""
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda args: self(*args), commands))

    def git(self, *args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
