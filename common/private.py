"""Secrets at rest: PAAS_HOME is private to the user who runs the daemon.

The home holds every app's config vars and the add-ons' credentials (the state database and
its WAL), the Kafka tenants' SASL passwords (`kafka/registry.json`), the local CA's and the
issued certificates' private keys, the API token and the embedded PostgreSQL's superuser
password. Two mechanisms keep them private:

* the daemon's umask is 077, so whatever it or its children (git, builds, process dynos)
  create later is private from birth: SQLite's WAL and SHM, registry rewrites, slugs, sources;
* at start, `secure_home` creates the home 0700, or tightens an existing one: the home, every
  entry directly inside it and every file known to hold a secret lose their group and other
  bits. One line names what was tightened.

One exception: a daemon running as root runs the embedded PostgreSQL as an unprivileged system
user, which must traverse the home to reach its data directory. Those directories keep the
execute bit for others (they can pass through, never list or read); the caller names them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from common.errors import StartupError

PRIVATE_UMASK = 0o077

# Files below the home's first level that hold secrets, as globs relative to the home.
SECRET_FILES = (
    "state.sqlite3*",  # config vars, add-on credentials (the database, its WAL, SHM and journal)
    "token",  # the API token
    "kafka/registry.json*",  # Kafka tenants' SASL passwords
    "ca/*.key",  # the local CA's private key
    "ca/issued/*.key",  # issued certificates' private keys
    "certs/sni/*.key",  # the keys of certificates users uploaded (`paas certs:add`)
    "postgres/cluster.json",  # the embedded PostgreSQL's superuser password
    "pgbackups/*/*.dump*",  # pg:backups archives: whole databases
)


@dataclass(frozen=True)
class Tightened:
    path: str  # relative to the home ("." for the home itself)
    before: int
    after: int | None  # None: could not be changed (another user's file)

    def __str__(self) -> str:
        if self.after is None:
            return f"{self.path} {self.before:04o} (not ours to change: left as is)"
        return f"{self.path} {self.before:04o}→{self.after:04o}"


def secure_home(
    home: Path,
    traversable: Iterable[Path] = (),
    log: Callable[[str], None] | None = None,
) -> list[Tightened]:
    """Set the private umask, create or tighten `home`; returns (and logs once) what changed.

    `traversable`: directories others may pass through (execute bit kept, never added)."""
    os.umask(PRIVATE_UMASK)
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StartupError(f"cannot create PAAS_HOME={home}: {exc.strerror or exc}") from None
    keep_x = {_key(p) for p in traversable}
    changed: list[Tightened] = []
    for path in _candidates(home):
        done = _tighten(path, home, _key(path) in keep_x)
        if done is not None:
            changed.append(done)
    if changed and log is not None:
        log(
            "tightened permissions in PAAS_HOME (it holds config vars, passwords and keys): "
            + ", ".join(str(c) for c in changed)
        )
    return changed


def is_private(mode: int, traversable: bool = False) -> bool:
    """True when group and others can neither read nor write (nor enter, unless traversable)."""
    allowed = 0o011 if traversable else 0
    return stat.S_IMODE(mode) & 0o077 & ~allowed == 0


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _candidates(home: Path) -> list[Path]:
    found: list[Path] = [home]
    with os.scandir(home) as entries:
        found.extend(sorted(Path(e.path) for e in entries))
    seen = {_key(p) for p in found}
    for pattern in SECRET_FILES:
        for path in sorted(home.glob(pattern)):
            if _key(path) not in seen:
                seen.add(_key(path))
                found.append(path)
    return found


def _tighten(path: Path, home: Path, traversable: bool) -> Tightened | None:
    try:
        st = path.lstat()
    except FileNotFoundError:  # gone between listing and now (a WAL checkpoint, a rename)
        return None
    if stat.S_ISLNK(st.st_mode):  # a link's own mode means nothing; its target is not ours to change
        return None
    before = stat.S_IMODE(st.st_mode)
    if is_private(before, traversable and stat.S_ISDIR(st.st_mode)):
        return None
    wanted = before & ~(0o066 if traversable and stat.S_ISDIR(st.st_mode) else 0o077)
    after: int | None = wanted
    try:
        os.chmod(path, wanted)
    except OSError:  # another user's file, or a file system without modes
        after = None
    rel = "." if path == home else path.relative_to(home).as_posix()
    return Tightened(rel, before, after)
