"""ProcessRuntime: each dyno is a local process group running in a fresh copy of the slug.

Layout under `settings.dynos_dir / "process"`:
    <app>/<dyno>-<id>/     the dyno's ephemeral filesystem ($HOME and working directory)
    registry/<pgid>.json   one file per live dyno, so the next daemon can reap leftovers

No dyno outlives the daemon, whatever way the daemon ends:
  * every dyno leader has PR_SET_PDEATHSIG=SIGKILL (dies with the daemon's spawning thread);
  * a watchdog process (`dynos.runtimes.watchdog`) SIGKILLs every known group when the
    daemon's end of its stdin pipe closes, which the kernel does even on SIGKILL;
  * `prepare()` SIGKILLs whatever the registry still lists (e.g. the watchdog was killed too);
  * when a dyno's main process exits, the rest of its group is SIGKILLed (the dyno is over).

Processes are started with `subprocess.Popen` (so the order setsid → controlling tty →
prctl is explicit and the same under asyncio and uvloop); exits are observed through a
pidfd on the event loop and output through non-blocking pipe / pty reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from common.config import LOOPBACK, Settings
from dynos.runtimes.base import DynoSpec, OutputCallback, SpawnError, exit_status
from dynos.runtimes.sockets import Listener, namespace_listeners, socket_inodes

READ_CHUNK = 16384  # per loop turn: bounds the work one chatty dyno can do before others run
STDIN_HIGH_WATER = 1 << 20  # write_stdin waits while this much is still unwritten
OUTPUT_DRAIN_TIMEOUT = 2.0  # after the main process exits, wait this long for the pipes to close
PROBE_TIMEOUT = 1.0
PPID_CACHE_SECONDS = 0.25  # one /proc scan serves every dyno's memory check in that window
LISTEN_CACHE_SECONDS = 0.25  # ... and one read of the host's socket table every listeners() call

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # not Linux: rely on the watchdog and the registry
    _libc = None

# A command bash can `exec` directly: no lists, pipes, subshells or compound keywords.
_SHELL_SYNTAX = re.compile(r"[;&|()`\n]|\$\(")
_BUILTINS = frozenset(
    [
        "cd",
        "export",
        "source",
        ".",
        "if",
        "for",
        "while",
        "until",
        "case",
        "exec",
        "eval",
        "set",
        "unset",
        "alias",
        "ulimit",
        "umask",
        "trap",
        "{",
        "[[",
    ]
)


def _child_setup(controlling_tty: bool) -> None:
    """Runs in the child between fork and exec (after setsid and the fd dups)."""
    if _libc is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if controlling_tty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def shell_script(command: str, home: Path) -> str:
    """The bash script for a dyno: source .profile.d/*.sh and .profile like Heroku, then run.

    Without profile scripts the command is passed as is (bash execs a lone simple command
    itself, so the app process is the group leader and gets SIGTERM first-hand). With them,
    a simple command is prefixed with `exec` for the same reason.
    """
    parts: list[str] = []
    if (home / ".profile.d").is_dir():
        parts.append('for __f in "$HOME"/.profile.d/*.sh; do [ -r "$__f" ] && . "$__f"; done; unset __f')
    if (home / ".profile").is_file():
        parts.append('. "$HOME/.profile"')
    if not parts:
        return command
    words = command.split()
    simple = bool(words) and not _SHELL_SYNTAX.search(command) and words[0] not in _BUILTINS
    parts.append(f"exec {command}" if simple else command)
    return "\n".join(parts)


def free_port(exclude: Iterable[int] = ()) -> int:
    """A port on 127.0.0.1 nobody listens on right now (and not one we handed out)."""
    taken = set(exclude)
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port: int = s.getsockname()[1]
        if port not in taken:
            return port
    raise SpawnError("no free port on 127.0.0.1")


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _Reader:
    """Non-blocking reads of one fd on the loop; b"" to the callback at EOF."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, stream: str, output: OutputCallback):
        self.loop = loop
        self.fd = fd
        self.stream = stream
        self.output = output
        self.closed = asyncio.Event()
        self.paused = False
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the pty's last slave closed
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if data:
            self.output(self.stream, data)
        else:
            self.close()

    def pause(self) -> None:
        if not self.paused and not self.closed.is_set():
            self.paused = True
            self.loop.remove_reader(self.fd)

    def resume(self) -> None:
        if self.paused and not self.closed.is_set():
            self.paused = False
            self.loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.closed.set()
        self.output(self.stream, b"")


class _Writer:
    """Buffered non-blocking writes to the dyno's stdin (pipe or pty master)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, owns_fd: bool = True):
        self.loop = loop
        self.fd = fd
        self.owns_fd = owns_fd
        self.buffer = bytearray()
        self.closing = False
        self.closed = False
        self._drained = asyncio.Event()
        self._drained.set()
        if owns_fd:
            os.set_blocking(fd, False)

    async def write(self, data: bytes) -> None:
        if self.closed or self.closing:
            return
        self.buffer += data
        self._flush()
        while len(self.buffer) > STDIN_HIGH_WATER and not self.closed:
            self._drained.clear()
            await self._drained.wait()

    def _flush(self) -> None:
        while self.buffer and not self.closed:
            try:
                n = os.write(self.fd, self.buffer)
            except BlockingIOError:
                self.loop.add_writer(self.fd, self._writable)
                self._drained.clear()
                return
            except OSError:  # EPIPE: the process closed stdin or is gone
                self.buffer.clear()
                self.finish()
                return
            del self.buffer[:n]
        self.loop.remove_writer(self.fd)
        self._drained.set()
        if self.closing:
            self.finish()

    def _writable(self) -> None:
        self._flush()

    def close(self) -> None:
        self.closing = True
        if not self.buffer:
            self.finish()

    def finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_writer(self.fd)
        if self.owns_fd:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self._drained.set()


class ProcessDyno:
    """One dyno run as a local process group. Implements `dynos.runtimes.base.DynoProcess`."""

    host = LOOPBACK
    container: str | None = None
    isolated = False  # the host's network: whatever it listens on, the host listens on

    def __init__(
        self,
        runtime: ProcessRuntime,
        spec: DynoSpec,
        popen: subprocess.Popen[bytes],
        workdir: Path,
        port: int | None,
        readers: list[_Reader],
        writer: _Writer | None,
        pty_master: int | None,
    ):
        self.runtime = runtime
        self.spec = spec
        self.popen = popen
        self.pid: int | None = popen.pid
        self.pgid = popen.pid  # start_new_session: the leader's pid is the group id
        self.id = str(popen.pid)
        self.workdir = workdir
        self.port = port
        self.readers = readers
        self.writer = writer
        self.pty_master = pty_master
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._cleaned = False
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
            self._loop.add_reader(self._pidfd, self._check_exit)
        except (AttributeError, OSError):  # no pidfd: poll cheaply instead
            self._loop.call_later(0.05, self._poll_exit)
        self._check_exit()

    # ---- exit ---------------------------------------------------------------------------
    def _poll_exit(self) -> None:
        if not self._check_exit():
            self._loop.call_later(0.05, self._poll_exit)

    def _check_exit(self) -> bool:
        if self.returncode is not None:
            return True
        try:
            code = self.popen.poll()
        except ChildProcessError:  # reaped by someone else; the status is lost
            code = 255
        if code is None:
            return False
        self.returncode = code
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        # The main process is gone, so the dyno is: nothing else of it may keep running.
        self._killpg(signal.SIGKILL)
        self._loop.create_task(self._finish_exit(exit_status(code)))
        return True

    async def _finish_exit(self, status: int) -> None:
        waits = [r.closed.wait() for r in self.readers]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), OUTPUT_DRAIN_TIMEOUT)
        for reader in self.readers:  # a grandchild that escaped the group may hold a pipe
            reader.close()
        if not self._exited.done():
            self._exited.set_result(status)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    @property
    def exited(self) -> bool:
        return self._exited.done()

    # ---- control ------------------------------------------------------------------------
    def _killpg(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            self._killpg(sig)

    async def probe(self) -> bool:
        if self.port is None or self.returncode is not None:
            return False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, self.port), PROBE_TIMEOUT)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def memory(self) -> int:
        if self.returncode is not None:
            return 0
        return self.runtime.tree_memory(self.popen.pid)

    async def listeners(self) -> list[Listener] | None:
        """The TCP sockets the dyno's processes listen on (in the host's network namespace)."""
        if self.returncode is not None:
            return []
        return self.runtime.listeners_of(self.popen.pid)

    async def write_stdin(self, data: bytes) -> None:
        if self.writer is not None:
            await self.writer.write(data)

    def close_stdin(self) -> None:
        if self.writer is None:
            return
        if self.pty_master is not None:
            # A terminal has no end of file; ^D at the start of a line is how one says so.
            self._loop.create_task(self.writer.write(b"\x04"))
        else:
            self.writer.close()

    def resize(self, rows: int, cols: int) -> None:
        if self.pty_master is not None and self.returncode is None:
            _set_winsize(self.pty_master, rows, cols)
            self._killpg(signal.SIGWINCH)

    def pause_output(self) -> None:
        for reader in self.readers:
            reader.pause()

    def resume_output(self) -> None:
        for reader in self.readers:
            reader.resume()

    async def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if self.returncode is None:  # cleanup without wait(): end it first
            self._killpg(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), 5)
        for reader in self.readers:
            reader.close()
        if self.writer is not None:
            self.writer.finish()
        if self.pty_master is not None:  # the reader owns and closed the master fd
            self.pty_master = None
        await self.runtime.forget(self)


class ProcessRuntime:
    """Runs dynos as local process groups. Implements `dynos.runtimes.base.Runtime`."""

    name = "process"

    def __init__(self, settings: Settings, *, watchdog: bool = True, base_env: dict[str, str] | None = None):
        self.settings = settings
        self.root = settings.dynos_dir / "process"
        self.registry = self.root / "registry"
        self.use_watchdog = watchdog
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._ports: set[int] = set()
        self._live: dict[int, ProcessDyno] = {}
        self._ppid_cache: tuple[float, dict[int, list[int]]] = (0.0, {})
        self._listen_cache: tuple[float, list[Listener]] = (0.0, [])
        self._socket_owners: dict[int, int] = {}  # listening socket inode -> dyno process holding it
        self._foreign_sockets: set[int] = set()  # listening inodes no dyno process holds
        self.base_env = base_env if base_env is not None else self._default_base_env()
        self.reaped = 0  # processes killed by prepare(), for tests and the daemon's log

    @staticmethod
    def _default_base_env() -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
        env["LANG"] = os.environ.get("LANG") or "C.UTF-8"
        if "TZ" in os.environ:
            env["TZ"] = os.environ["TZ"]
        # Python apps: no buffering surprises in the log stream.
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # ---- lifecycle ----------------------------------------------------------------------
    async def prepare(self) -> None:
        self.registry.mkdir(parents=True, exist_ok=True)
        self.reaped += await asyncio.to_thread(self._reap_registry)
        await asyncio.to_thread(self._wipe_workdirs)
        if self.use_watchdog and self._watchdog is None:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "dynos.runtimes.watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )

    async def close(self) -> None:
        for dyno in list(self._live.values()):
            dyno.signal(signal.SIGKILL)
            await dyno.cleanup()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            with contextlib.suppress(OSError):
                assert watchdog.stdin is not None
                watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(watchdog.wait, 5)

    def _tell_watchdog(self, line: str) -> None:
        wd = self._watchdog
        if wd is None or wd.stdin is None:
            return
        try:
            wd.stdin.write(line.encode() + b"\n")
            wd.stdin.flush()
        except OSError:  # the watchdog died; the registry still covers us
            self._watchdog = None

    def _reap_registry(self) -> int:
        """SIGKILL every process a previous daemon's dynos left behind. Returns the count."""
        records: dict[int, float] = {}
        for path in self.registry.glob("*.json"):
            try:
                data = json.loads(path.read_text())
                records[int(data["pgid"])] = float(data["create_time"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
            path.unlink(missing_ok=True)
        if not records:
            return 0
        killed = 0
        me = os.getpid()
        for proc in psutil.process_iter(["pid", "create_time", "status"]):
            pid = proc.info["pid"]
            if pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                pgid = os.getpgid(pid)
            except OSError:
                continue
            started = records.get(pgid)
            # A recycled pid would be younger than nothing we started; ours are all at least as
            # young as their leader.
            if started is None or (proc.info["create_time"] or 0) < started - 1:
                continue
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    def _wipe_workdirs(self) -> None:
        if not self.root.is_dir():
            return
        for child in self.root.iterdir():
            if child.name != "registry":
                shutil.rmtree(child, ignore_errors=True)

    # ---- spawning -----------------------------------------------------------------------
    async def spawn(self, spec: DynoSpec, output: OutputCallback) -> ProcessDyno:
        if spec.slug_dir is None:
            if spec.docker_image:
                raise SpawnError(f"release v{spec.release} is a Docker image; it needs the Docker runtime")
            raise SpawnError(f"release v{spec.release} has no slug")
        if not spec.slug_dir.is_dir():
            raise SpawnError(f"the slug for release v{spec.release} is missing ({spec.slug_dir})")
        workdir = self.root / spec.app / f"{spec.name}-{secrets.token_hex(4)}"
        await asyncio.to_thread(self._copy_slug, spec.slug_dir, workdir)
        port = None
        if spec.wants_port:
            port = free_port(self._ports)
            self._ports.add(port)
        try:
            dyno = self._start(spec, workdir, port, output)
        except BaseException:
            if port is not None:
                self._ports.discard(port)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return dyno

    @staticmethod
    def _copy_slug(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # cp -a keeps modes, symlinks and times and is much faster than copytree on big slugs;
        # on copy-on-write filesystems (btrfs, XFS) --reflink makes it nearly free.
        result = subprocess.run(
            ["cp", "-a", "--reflink=auto", "--", f"{source}/.", str(target)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise SpawnError(f"could not copy the slug: {result.stderr.strip() or result.returncode}")

    def _env(self, spec: DynoSpec, workdir: Path, port: int | None) -> dict[str, str]:
        env = dict(self.base_env)
        if spec.stdio == "pty":
            env["TERM"] = spec.env.get("TERM") or os.environ.get("TERM") or "xterm-256color"
        env.update(spec.env)
        env["HOME"] = str(workdir)
        env["DYNO"] = spec.name
        if port is not None:
            env["PORT"] = str(port)
        return env

    def _start(self, spec: DynoSpec, workdir: Path, port: int | None, output: OutputCallback) -> ProcessDyno:
        loop = asyncio.get_running_loop()
        env = self._env(spec, workdir, port)
        argv = ["bash", "-c", shell_script(spec.command, workdir)]
        child_fds: list[int] = []
        readers: list[_Reader] = []
        writer: _Writer | None = None
        pty_master: int | None = None
        try:
            if spec.stdio == "pty":
                pty_master, slave = os.openpty()
                child_fds.append(slave)
                _set_winsize(slave, spec.tty_rows, spec.tty_cols)
                stdin: int = slave
                stdout: int = slave
                stderr: int = slave
            elif spec.stdio == "pipes":
                in_r, in_w = os.pipe()
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                child_fds += [in_r, out_w, err_w]
                stdin, stdout, stderr = in_r, out_w, err_w
                parent_fds = (in_w, out_r, err_r)
            else:
                out_r, out_w = os.pipe()
                child_fds.append(out_w)
                stdin, stdout, stderr = subprocess.DEVNULL, out_w, out_w
            popen = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                cwd=workdir,
                env=env,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(spec.stdio == "pty"),
                close_fds=True,
            )
        except OSError as exc:
            for fd in child_fds:
                os.close(fd)
            if pty_master is not None:
                os.close(pty_master)
            raise SpawnError(f"could not start bash: {exc}") from exc
        for fd in child_fds:
            os.close(fd)
        if spec.stdio == "pty":
            assert pty_master is not None
            # The reader owns the master fd; the writer shares it.
            readers.append(_Reader(loop, pty_master, "stdout", output))
            writer = _Writer(loop, pty_master, owns_fd=False)
        elif spec.stdio == "pipes":
            in_w, out_r, err_r = parent_fds
            readers.append(_Reader(loop, out_r, "stdout", output))
            readers.append(_Reader(loop, err_r, "stderr", output))
            writer = _Writer(loop, in_w)
        else:
            readers.append(_Reader(loop, out_r, "stdout", output))
        dyno = ProcessDyno(self, spec, popen, workdir, port, readers, writer, pty_master)
        self._register(dyno)
        return dyno

    def _register(self, dyno: ProcessDyno) -> None:
        self._live[dyno.pgid] = dyno
        try:
            create_time = psutil.Process(dyno.pgid).create_time()
        except psutil.Error:
            create_time = time.time()
        record = {
            "pgid": dyno.pgid,
            "create_time": create_time,
            "app": dyno.spec.app,
            "dyno": dyno.spec.name,
            "workdir": str(dyno.workdir),
            "daemon_pid": os.getpid(),
        }
        with contextlib.suppress(OSError):
            self.registry.mkdir(parents=True, exist_ok=True)
            (self.registry / f"{dyno.pgid}.json").write_text(json.dumps(record))
        self._tell_watchdog(f"+{dyno.pgid}")

    async def forget(self, dyno: ProcessDyno) -> None:
        self._live.pop(dyno.pgid, None)
        self._tell_watchdog(f"-{dyno.pgid}")
        (self.registry / f"{dyno.pgid}.json").unlink(missing_ok=True)
        if dyno.port is not None:
            self._ports.discard(dyno.port)
        await asyncio.to_thread(shutil.rmtree, dyno.workdir, True)

    # ---- memory -------------------------------------------------------------------------
    def _children_map(self) -> dict[int, list[int]]:
        stamp, cached = self._ppid_cache
        now = time.monotonic()
        if now - stamp < PPID_CACHE_SECONDS:
            return cached
        children: dict[int, list[int]] = {}
        for proc in psutil.process_iter(["ppid"]):
            children.setdefault(proc.info["ppid"] or 0, []).append(proc.pid)
        self._ppid_cache = (now, children)
        return children

    def tree_memory(self, pid: int) -> int:
        """RSS + swap of `pid` and all its descendants, in bytes."""
        return sum(_rss_and_swap(p) for p in self._tree(pid))

    # ---- listening sockets ---------------------------------------------------------------
    def _listening(self) -> list[Listener]:
        stamp, cached = self._listen_cache
        now = time.monotonic()
        if now - stamp < LISTEN_CACHE_SECONDS:
            return cached
        table = namespace_listeners() or []
        self._listen_cache = (now, table)
        inodes = {s.inode for s in table}
        # a socket's inode never changes hands (barring fd passing): resolve each new one once
        unknown = inodes - self._socket_owners.keys() - self._foreign_sockets
        if unknown:
            self._ppid_cache = (0.0, {})  # a fresh process tree: the owner may be brand new
            owners = socket_inodes(self._dyno_pids())
            for inode in unknown:
                if inode in owners:
                    self._socket_owners[inode] = owners[inode]
                else:
                    self._foreign_sockets.add(inode)
        self._socket_owners = {i: p for i, p in self._socket_owners.items() if i in inodes}
        self._foreign_sockets &= inodes
        return table

    def _dyno_pids(self) -> set[int]:
        pids: set[int] = set()
        for pgid in self._live:
            pids |= self._tree(pgid)
        return pids

    def _tree(self, pid: int) -> set[int]:
        children = self._children_map()
        seen: set[int] = set()
        stack = [pid]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(children.get(current, ()))
        return seen

    def listeners_of(self, pid: int) -> list[Listener]:
        """What `pid` and its descendants listen on."""
        table = self._listening()
        tree = self._tree(pid)
        return [s for s in table if self._socket_owners.get(s.inode) in tree]

    @property
    def live_count(self) -> int:
        return len(self._live)


def _rss_and_swap(pid: int) -> int:
    """VmRSS + VmSwap from /proc/<pid>/status (cheap: no smaps walk)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            text = f.read()
    except OSError:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0
    total = 0
    for line in text.splitlines():
        if line.startswith((b"VmRSS:", b"VmSwap:")):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                total += int(parts[1]) * 1024
    return total
