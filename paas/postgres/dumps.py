"""pg_dump and pg_restore as the add-on's owner, in PostgreSQL's custom archive format.

The binaries are the server's own: the pgserver wheel's for the embedded cluster; for an
external server (`PAAS_POSTGRES_URL`) the first of PATH, Debian's `/usr/lib/postgresql/*/bin`
and the wheel's whose major version is at least the server's (pg_dump refuses a newer server).
Both run blocking, on a worker thread, reporting to a `TransferControl`, which may also stop
them at any moment (it kills the process: a pg_dump waiting on a lock stops too).
The password goes through the environment (PGPASSWORD), never the command line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from psycopg.conninfo import make_conninfo

from paas.postgres.cluster import PostgresCluster, pg_bin_dir
from paas.postgres.databases import AddonDatabase

CHUNK = 256 * 1024
_PR_SET_PDEATHSIG = 1
_ERRORS_IGNORED = re.compile(r"errors ignored on restore: (\d+)")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux: the child is not tied to the daemon's life
    _libc = None


def _die_with_parent() -> None:
    """In the child: SIGKILL when the daemon dies, so a killed daemon leaves no pg_dump behind."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class TransferFailed(Exception):
    """Why a capture or restore did not finish, worded for the user."""


class TransferStopped(TransferFailed):
    """Stopped from outside (a cancel, the daemon stopping): the caller words why."""


class TransferControl(Protocol):
    """What a running transfer reports to, and what may stop it."""

    def started(self, process: subprocess.Popen[bytes]) -> None: ...  # stopping kills it from now on

    @property
    def stopped(self) -> bool: ...

    def progress(self, written: int) -> None: ...

    def log(self, message: str) -> None: ...


@dataclass(frozen=True)
class DumpTools:
    pg_dump: str
    pg_restore: str
    major: int


def tool_major(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.search(out)
    return int(found.group(1)) if found else None


def _candidate_dirs(cluster: PostgresCluster) -> list[Path]:
    if not cluster.external:
        return [pg_bin_dir()]
    dirs: list[Path] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).parent)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    dirs.extend(debian)
    with contextlib.suppress(Exception):
        dirs.append(pg_bin_dir())
    return dirs


def find_tools(cluster: PostgresCluster, server_major: int) -> DumpTools:
    """pg_dump and pg_restore from one directory, recent enough for the server."""
    seen: list[str] = []
    for directory in _candidate_dirs(cluster):
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if not (os.access(dump, os.X_OK) and os.access(restore, os.X_OK)):
            continue
        major = tool_major(str(dump))
        if major is None:
            continue
        seen.append(f"{dump} ({major})")
        if major >= server_major:
            return DumpTools(str(dump), str(restore), major)
    found = ", ".join(seen) or "none"
    raise TransferFailed(
        f"No pg_dump of PostgreSQL {server_major} or newer was found (found: {found}); "
        f"install postgresql-client-{server_major} or put its bin directory first on PATH."
    )


def _connect_args(db: AddonDatabase) -> tuple[str, dict[str, str]]:
    conninfo = make_conninfo(host=db.host, port=str(db.port), user=db.user, dbname=db.database)
    env = dict(os.environ, PGPASSWORD=db.password, PGCONNECT_TIMEOUT="10", PGAPPNAME="paas pg:backups")
    return conninfo, env


class _LineReader(threading.Thread):
    """Drains a child's stderr line by line (so it never blocks on a full pipe)."""

    def __init__(self, stream: object, on_line: Callable[[str], None]):
        super().__init__(daemon=True, name="pg-transfer-stderr")
        self.stream = stream
        self.on_line = on_line
        self.lines: list[str] = []

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.lines.append(line)
                del self.lines[:-50]  # only the last lines explain a failure
                self.on_line(line)


def _spawn(args: list[str], env: dict[str, str], stdout: int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_die_with_parent,  # safe with threads: one prctl call, no locks
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def dump(tools: DumpTools, db: AddonDatabase, out: Path, ctl: TransferControl) -> int:
    """pg_dump -Fc of the add-on's database into `out` (0600); returns the bytes written.
    `out` is complete only when this returns: the caller writes to a partial name and renames."""
    conninfo, env = _connect_args(db)
    proc = _spawn([tools.pg_dump, "-Fc", "--verbose", "--no-password", "-d", conninfo], env, subprocess.PIPE)
    ctl.started(proc)
    reader = _LineReader(proc.stderr, ctl.log)
    reader.start()
    written = 0
    assert proc.stdout is not None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb", buffering=0) as f:
            while chunk := proc.stdout.read(CHUNK):
                f.write(chunk)
                written += len(chunk)
                ctl.progress(written)
            os.fsync(f.fileno())
    except OSError as exc:
        _stop(proc)
        raise TransferFailed(_write_error(exc, out, written)) from None
    except BaseException:
        _stop(proc)
        raise
    code = proc.wait()
    reader.join(5)
    if ctl.stopped:
        raise TransferStopped("stopped")
    if code != 0:
        raise TransferFailed(f"pg_dump exited with status {code}: {_last(reader.lines)}")
    return written


def _write_error(exc: OSError, out: Path, written: int) -> str:
    if exc.errno == errno.ENOSPC:
        free = shutil.disk_usage(out.parent).free
        return (
            f"No space left on device: the backup stopped after {written} bytes "
            f"({free} bytes free where backups are kept)"
        )
    return f"could not write the backup after {written} bytes: {exc.strerror or exc}"


def _last(lines: list[str]) -> str:
    meaningful = [ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()]
    return "; ".join((meaningful or lines)[-3:]) or "no output"


@dataclass(frozen=True)
class RestoreResult:
    warnings: int
    errors: list[str]  # the pg_restore error lines (the first ones), when warnings > 0


def restore(tools: DumpTools, db: AddonDatabase, archive: Path, ctl: TransferControl) -> RestoreResult:
    """pg_restore of `archive` into the add-on's database as its owner, Heroku's way: existing
    objects of the archive are dropped first (--clean --if-exists), ownership and grants are
    the target's (--no-owner --no-acl); statements that fail are counted as warnings."""
    conninfo, env = _connect_args(db)
    args = [tools.pg_restore, "--verbose", "--clean", "--if-exists", "--no-owner", "--no-acl"]
    proc = _spawn([*args, "--no-password", "-d", conninfo, str(archive)], env, subprocess.DEVNULL)
    ctl.started(proc)
    errors: list[str] = []

    def on_line(line: str) -> None:
        if "error" in line.lower() and len(errors) < 20:
            errors.append(line)
        ctl.log(line)

    reader = _LineReader(proc.stderr, on_line)
    reader.start()
    code = proc.wait()
    reader.join(5)
    if ctl.stopped:
        raise TransferStopped("stopped")
    ignored = next((int(m.group(1)) for ln in reader.lines if (m := _ERRORS_IGNORED.search(ln))), 0)
    if code != 0 and ignored == 0:
        raise TransferFailed(f"pg_restore exited with status {code}: {_last(reader.lines)}")
    return RestoreResult(ignored, errors if ignored else [])


def list_archive(tools: DumpTools, archive: Path) -> str:
    """`pg_restore --list`: the archive's table of contents (also proves it is readable)."""
    result = subprocess.run(
        [tools.pg_restore, "--list", str(archive)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise TransferFailed(f"not a readable backup: {result.stderr.strip()}")
    return result.stdout
