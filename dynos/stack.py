"""The stack image: the base filesystem every container dyno runs on.

Heroku runs dynos on a stack image (`heroku/heroku:24`). Where that can be pulled the daemon
uses it as is. Where nothing can be pulled (offline machines, CI without registry access),
`paas stack:build` makes a working base image with no registry at all: it collects a small
root filesystem from the host's own Debian packages (bash, coreutils, Python 3 with its
standard library, CA certificates, tzdata and their shared libraries, found with dpkg), writes
it as a tar and `docker import`s it as `paas/stack:local`. On hosts without dpkg it falls back
to the listed binaries, their shared libraries (ldd) and the Python standard library.

Nothing here writes log lines or talks to the control plane; `choose_stack_image` is what the
Docker runtime asks at start-up.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_STACK_IMAGE = "paas/stack:local"
STACK_LABEL = "io.paas.stack"

# Debian packages whose closure (Depends + Pre-Depends, installed ones only) makes the image.
ROOT_PACKAGES = (
    "base-files",
    "bash",
    "dash",
    "coreutils",
    "libc-bin",
    "findutils",
    "grep",
    "sed",
    "mawk",
    "tar",
    "gzip",
    "procps",
    "hostname",
    "ca-certificates",
    "tzdata",
    "netbase",
    "python3",
)
# Fallback (no dpkg): these binaries plus their shared libraries and the Python stdlib.
FALLBACK_BINARIES = (
    *("bash", "sh", "env", "cat", "ls", "cp", "mv", "rm", "mkdir", "rmdir", "ln", "chmod", "touch"),
    *("sleep", "echo", "printf", "head", "tail", "wc", "sort", "uniq", "tr", "cut", "grep", "sed"),
    *("awk", "find", "xargs", "tar", "gzip", "ps", "kill", "id", "whoami", "hostname", "date"),
    *("uname", "readlink", "dirname", "basename", "true", "false", "test", "python3"),
)
# Documentation never runs; leaving it out halves the image.
EXCLUDED_PREFIXES = (
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/lintian/",
    "/usr/share/locale/",
    "/usr/share/bug/",
)
# The container's PATH: Heroku's buildpack locations first, then the system.
STACK_PATH = "/app/.heroku/python/bin:/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STACK_ENV = {"PATH": STACK_PATH, "LANG": "C.UTF-8", "HOME": "/app", "PYTHONUNBUFFERED": "1"}

_PASSWD = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


class StackError(RuntimeError):
    """The stack image cannot be built or found; the message says what to do."""


@dataclass
class RootfsPlan:
    """What goes into the image: host paths (copied as they are) and generated files."""

    paths: set[str] = field(default_factory=set)
    generated: dict[str, str] = field(default_factory=dict)  # absolute path -> text
    packages: list[str] = field(default_factory=list)
    source: str = ""  # "dpkg" or "ldd", for the build report
    python_prefix: str | None = None  # the buildpack's interpreter, when it is not the system's


@dataclass
class StackBuild:
    image: str
    image_id: str
    files: int
    size_bytes: int
    seconds: float
    source: str
    packages: list[str]


# ---- collecting the root filesystem ------------------------------------------------------


def _dpkg_query(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg-query", *args], capture_output=True, text=True)


def _installed_packages() -> tuple[dict[str, str], dict[str, str]]:
    """(installed package -> its Depends + Pre-Depends text, virtual name -> a provider).
    One dpkg-query call: asking per package costs a process each."""
    result = _dpkg_query(
        "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\t${Provides}\n"
    )
    installed: dict[str, str] = {}
    provides: dict[str, str] = {}
    for line in result.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[1].startswith("ii"):
            continue
        name, _status, depends, provided = parts
        installed[name] = depends
        for virtual in provided.split(","):
            vname = _dep_name(virtual)
            if vname:
                provides.setdefault(vname, name)
    return installed, provides


def _dep_name(text: str) -> str:
    """`libc6 (>= 2.34)` / `python3:any` -> the bare package name."""
    return re.split(r"[\s:(]", text.strip(), maxsplit=1)[0]


def package_closure(roots: Iterable[str]) -> list[str]:
    """Installed packages reachable from `roots` (Depends + Pre-Depends); for `a | b` the
    first installed choice; a virtual name stands for the package that provides it."""
    installed, provides = _installed_packages()

    def resolve(name: str) -> str | None:
        return name if name in installed else provides.get(name)

    seen: set[str] = set()
    todo = [p for p in (resolve(r) for r in roots) if p]
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        for group in installed[package].split(","):
            for choice in group.split("|"):
                found = resolve(_dep_name(choice)) if _dep_name(choice) else None
                if found:
                    todo.append(found)
                    break
    return sorted(seen)


def _package_paths(packages: list[str]) -> set[str]:
    result = _dpkg_query("-L", *packages)
    return {line for line in result.stdout.splitlines() if line.startswith("/")}


def _shared_libraries(binary: str) -> set[str]:
    result = subprocess.run(["ldd", binary], capture_output=True, text=True)
    libs: set[str] = set()
    for line in result.stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                libs.add(word)
    return libs


def _python_stdlib(python: str) -> set[str]:
    """The standard library directory of `python` (without site-packages and tests)."""
    code = "import sysconfig; print(sysconfig.get_paths()['stdlib'])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()
    return {out} if out else set()


def _alternatives(paths: set[str]) -> set[str]:
    """Debian's /etc/alternatives links (e.g. awk -> mawk) whose target we ship."""
    extra: set[str] = set()
    for directory in ("/usr/bin", "/usr/sbin"):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_symlink():
                continue
            target = os.readlink(entry.path)
            if not target.startswith("/etc/alternatives/"):
                continue
            final = os.path.realpath(entry.path)
            if final in paths:
                extra.update({entry.path, target})
    return extra


# Parts of a Python installation no dyno runs (tests, GUI, headers, static libraries).
_PYTHON_SKIP_DIRS = {
    "site-packages",
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "include",
    "share",
    "pkgconfig",
    "__phello__",
}


def build_python_prefix() -> str | None:
    """The install prefix of the interpreter the Python buildpack builds slugs with, when it is
    not the system's (/usr): `$PAAS_BUILD_PYTHON` or `python3` on PATH, e.g. a pyenv build.

    Slug virtualenvs point at that interpreter by absolute path, so the stack carries it too.
    """
    candidate = os.environ.get("PAAS_BUILD_PYTHON") or shutil.which("python3") or sys.executable
    code = "import sys; print(sys.base_prefix)"
    try:
        out = subprocess.run([candidate, "-c", code], capture_output=True, text=True, timeout=30, cwd="/")
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = out.stdout.strip()
    if not prefix or not os.path.isdir(prefix) or prefix in ("/usr", "/usr/local", "/"):
        return None
    return os.path.realpath(prefix)


def python_install_paths(prefix: str) -> set[str]:
    """An interpreter's files without its site-packages, tests, GUI and build-only parts,
    plus the shared libraries its binary and extension modules need."""
    paths: set[str] = set()
    binaries: list[str] = []
    for root, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if d not in _PYTHON_SKIP_DIRS and not d.startswith("config-")]
        rel = os.path.relpath(root, prefix)
        for name in files + [d for d in os.listdir(root) if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            if name.endswith(".a") or name.startswith("_tkinter"):
                continue
            if rel == "bin" and not name.startswith("python"):
                continue  # console scripts of globally installed tools
            paths.add(path)
            if name.endswith(".so") or ".so." in name or (rel == "bin" and not os.path.islink(path)):
                binaries.append(path)
    for binary in binaries:
        paths |= _shared_libraries(binary)
    return paths


def plan_rootfs(packages: Iterable[str] = ROOT_PACKAGES, *, with_build_python: bool = True) -> RootfsPlan:
    """Decide what the image contains, from dpkg when the host has it, else from ldd."""
    plan = RootfsPlan()
    if shutil.which("dpkg-query"):
        plan.packages = package_closure(packages)
        plan.paths = _package_paths(plan.packages)
        plan.source = "dpkg"
    if not plan.paths:
        plan.source = "ldd"
        for name in FALLBACK_BINARIES:
            found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            if found:
                plan.paths.add(found)
                plan.paths |= _shared_libraries(found)
                if name == "python3":
                    plan.paths |= _python_stdlib(found)
    if with_build_python:
        prefix = build_python_prefix()
        if prefix is not None:
            plan.python_prefix = prefix
            plan.paths |= python_install_paths(prefix)
    plan.paths = {_canonical(p) for p in plan.paths}
    plan.paths = {p for p in plan.paths if not p.startswith(EXCLUDED_PREFIXES)}
    plan.paths |= _bytecode(plan.paths)
    plan.paths |= _alternatives(plan.paths)
    for extra in ("/etc/ld.so.cache", "/etc/ssl/certs", "/etc/os-release", "/usr/lib/os-release"):
        if os.path.lexists(extra):
            plan.paths.add(extra)
    plan.generated.update(
        {
            "/etc/passwd": _PASSWD,
            "/etc/group": _GROUP,
            "/etc/nsswitch.conf": _NSSWITCH,
            "/etc/hosts": _HOSTS,
        }
    )
    return plan


def _bytecode(paths: set[str]) -> set[str]:
    """The host's compiled .pyc files next to the .py files we ship. dpkg does not list them
    (Debian compiles at install time); without them every dyno recompiles the standard
    library at boot (a second instead of a fifth of one for `import http.server`)."""
    extra: set[str] = set()
    for directory in {os.path.dirname(p) for p in paths if p.endswith(".py")}:
        cache = os.path.join(directory, "__pycache__")
        try:
            entries = os.listdir(cache)
        except OSError:
            continue
        extra.update(os.path.join(cache, name) for name in entries if name.endswith(".pyc"))
    return extra


def _canonical(path: str) -> str:
    """Resolve symlinked parent directories (usr-merge: /lib -> usr/lib), never the leaf."""
    parent, leaf = os.path.split(path)
    return os.path.join(os.path.realpath(parent), leaf)


# ---- writing the tar -----------------------------------------------------------------------

_TOP_LINKS = ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin")
_EMPTY_DIRS = {
    "/app": 0o755,
    "/tmp": 0o1777,
    "/var/tmp": 0o1777,
    "/root": 0o700,
    "/proc": 0o555,
    "/sys": 0o555,
    "/dev": 0o755,
    "/run": 0o755,
    "/home": 0o755,
    "/etc": 0o755,
    "/usr/local/bin": 0o755,
    "/var": 0o755,
}


class _RootfsTar:
    """A root filesystem tar being written: each entry once, parent directories first."""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.added: set[str] = set()
        self.members = 0
        self.content = 0  # bytes of file content

    def add_info(self, name: str, info: tarfile.TarInfo, data: io.BytesIO | None = None) -> None:
        self.tar.addfile(info, data)
        self.added.add(name)
        self.members += 1

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        if name in self.added or name == "/":
            return
        self.add_dir(os.path.dirname(name))
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type = tarfile.DIRTYPE
        info.mode = mode
        info.mtime = int(time.time())
        self.add_info(name, info)

    def add_link(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self.add_info(name, info)

    def add_host_path(self, path: str) -> None:
        """A file, link or directory of this host, as it is (sockets and devices are skipped)."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.add_dir(path, stat.S_IMODE(st.st_mode))
            return
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return  # nothing a stack needs
        self.add_dir(os.path.dirname(path))
        self.tar.add(path, arcname=path.lstrip("/"), recursive=False)
        self.added.add(path)
        self.members += 1
        if stat.S_ISREG(st.st_mode):
            self.content += st.st_size

    def add_text(self, name: str, text: str) -> None:
        self.add_dir(os.path.dirname(name))
        data = text.encode()
        info = tarfile.TarInfo(name.lstrip("/"))
        info.size = len(data)
        info.mode = 0o644
        info.mtime = int(time.time())
        self.add_info(name, info, io.BytesIO(data))


def write_rootfs_tar(plan: RootfsPlan, target: Path) -> tuple[int, int]:
    """Write the plan as an uncompressed tar. Returns (members, bytes of file content)."""
    with tarfile.open(target, "w", format=tarfile.GNU_FORMAT) as tar:
        rootfs = _RootfsTar(tar)
        for link in _TOP_LINKS:  # usr-merged hosts: keep /bin -> usr/bin etc. as links
            if os.path.islink(link):
                rootfs.add_link(link, os.readlink(link))
        for name, mode in sorted(_EMPTY_DIRS.items()):
            rootfs.add_dir(name, mode)
        for path in sorted(_expand(plan.paths)):
            if path not in rootfs.added and path not in plan.generated:
                rootfs.add_host_path(path)
        if "/usr/bin/python" not in rootfs.added and "/usr/bin/python3" in rootfs.added:
            rootfs.add_link("/usr/bin/python", "python3")
        for name, text in sorted(plan.generated.items()):
            rootfs.add_text(name, text)
    return rootfs.members, rootfs.content


def _expand(paths: set[str]) -> set[str]:
    """Directories listed in the plan that dpkg does not list file by file (e.g. /etc/ssl/certs)."""
    result = set(paths)
    for path in paths:
        if path in ("/etc/ssl/certs",) and os.path.isdir(path) and not os.path.islink(path):
            for entry in os.scandir(path):
                result.add(entry.path)
    return result


# ---- the image -----------------------------------------------------------------------------


def build_local_stack(
    client: Any,
    tag: str = LOCAL_STACK_IMAGE,
    *,
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> StackBuild:
    """Build the stack from the host's files and `docker import` it as `tag`. Blocking."""
    started = time.monotonic()
    progress("Collecting the root filesystem from the host's packages")
    plan = plan_rootfs()
    if "/usr/bin/bash" not in plan.paths and "/bin/bash" not in plan.paths:
        raise StackError("the host has no bash to put in the stack image")
    if plan.source == "dpkg":
        progress(f"{len(plan.packages)} packages: {', '.join(plan.packages[:12])}, ...")
    else:
        progress("no dpkg on this host: using binaries and their shared libraries")
    if plan.python_prefix:
        progress(f"Adding the buildpack's Python ({plan.python_prefix}, without site-packages)")
    tmp_parent = workdir or Path(tempfile.gettempdir())
    tmp_parent.mkdir(parents=True, exist_ok=True)
    fd, tar_name = tempfile.mkstemp(prefix="paas-stack-", suffix=".tar", dir=tmp_parent)
    os.close(fd)
    tar_path = Path(tar_name)
    try:
        members, content = write_rootfs_tar(plan, tar_path)
        progress(f"Root filesystem: {members} entries, {content / 1e6:.0f} MB")
        repository, _, version = tag.rpartition(":")
        if not repository or "/" in version:
            repository, version = tag, "latest"
        changes = [f"ENV {k}={v}" for k, v in STACK_ENV.items()]
        changes += ["WORKDIR /app", 'CMD ["bash"]', f"LABEL {STACK_LABEL}=local"]
        progress(f"Importing as {tag}")
        previous = _image_id(client, tag)
        client.api.import_image_from_file(str(tar_path), repository=repository, tag=version, changes=changes)
        image = client.images.get(tag)
        if previous and previous != image.id:
            _remove_untagged_stack(client, previous)
    except (OSError, tarfile.TarError) as exc:
        raise StackError(f"could not write the root filesystem: {exc}") from exc
    finally:
        tar_path.unlink(missing_ok=True)
    return StackBuild(
        image=tag,
        image_id=image.id,
        files=members,
        size_bytes=int(image.attrs.get("Size") or content),
        seconds=time.monotonic() - started,
        source=plan.source,
        packages=plan.packages,
    )


def _image_id(client: Any, name: str) -> str | None:
    import docker.errors

    try:
        return str(client.images.get(name).id)
    except docker.errors.DockerException:
        return None


def _remove_untagged_stack(client: Any, image_id: str) -> None:
    """Drop the stack a rebuild replaced, if nothing else names or uses it (only ours)."""
    import docker.errors

    try:
        image = client.images.get(image_id)
        if image.tags or (image.labels or {}).get(STACK_LABEL) != "local":
            return
        client.images.remove(image_id)
    except docker.errors.DockerException:
        pass  # still used by a container: the engine keeps it, and so do we


def image_present(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError:
        return False
    return True


def choose_stack_image(client: Any, configured: str, *, pull: bool = True) -> tuple[str | None, str]:
    """Which image dynos run on, and why. Blocking (may pull).

    Order: the configured image when present locally; else pull it; else the locally built
    `paas/stack:local`. Returns (None, reason) when none is usable.
    """
    import docker.errors

    if image_present(client, configured):
        return configured, f"stack {configured}"
    pull_error = "not pulled"
    if pull:
        try:
            client.images.pull(configured)
            return configured, f"stack {configured} (pulled)"
        except (docker.errors.APIError, docker.errors.DockerException) as exc:
            pull_error = _short(exc)
    if configured != LOCAL_STACK_IMAGE and image_present(client, LOCAL_STACK_IMAGE):
        return LOCAL_STACK_IMAGE, f"stack {LOCAL_STACK_IMAGE} ({configured} could not be pulled)"
    return None, (
        f"no stack image: {configured} could not be pulled ({pull_error}) and {LOCAL_STACK_IMAGE} "
        "does not exist; build it with `paas stack:build`"
    )


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
    return text[:200]


def host_python() -> str:
    """The interpreter running paas (for the build report)."""
    return f"{sys.executable} ({sysconfig.get_python_version()})"
