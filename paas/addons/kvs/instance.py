"""One add-on's files under `PAAS_HOME/redis/<add-on>/` (directory 0700, files 0600).

    instance.json   the add-on's settings and both passwords: the source of truth. The running
                    server and the app's config vars are brought to it (at start, after a crash).
    redis.conf      rendered from instance.json; passwords only as SHA-256 hashes
    data/           the append-only file (persistence across restarts)
    redis.pid       written by redis-server
    redis.log       the server's own log

Two ACL users: `default` is the app's (the URL has no user name, so `AUTH <password>` picks it)
and cannot run CONFIG, ACL or SHUTDOWN, so the plan's memory and connection limits hold;
`paas` is the platform's own, for `redis:*` commands.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common.ca import CertFiles
from common.config import LOOPBACK
from paas.addons.kvs.plans import DEFAULT_POLICY, DEFAULT_TIMEOUT, PLANS

ADMIN_USER = "paas"
# what the app's user may not run: changing limits or users, stopping or re-pointing the server
APP_DENIED_COMMANDS = (
    "config",
    "acl",
    "shutdown",
    "debug",
    "module",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "failover",
)
_SAFE_NAME = re.compile(r"[a-z][a-z0-9-]{2,60}")


def new_password() -> str:
    return "p" + secrets.token_hex(32)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Instance:
    name: str
    app: str
    plan: str
    port: int  # plain redis:// listener
    tls_port: int  # rediss:// listener (REDIS_URL, REDIS_TLS_URL)
    password: str
    admin_password: str
    created_at: str
    policy: str = DEFAULT_POLICY
    timeout: int = DEFAULT_TIMEOUT
    config_pending: bool = False  # the app's config vars do not show these URLs yet

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def tls_url(self) -> str:
        """Heroku's shape: rediss://:<password>@<host>:<port> (no user name)."""
        return f"rediss://:{quote(self.password, safe='')}@{LOOPBACK}:{self.tls_port}"

    @property
    def plain_url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@{LOOPBACK}:{self.port}"

    def config_vars(self) -> dict[str, str]:
        """Heroku has required TLS on every plan since December 2024: both vars are rediss://."""
        return {"REDIS_URL": self.tls_url, "REDIS_TLS_URL": self.tls_url}


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def render_conf(instance: Instance, files: InstanceFiles, tls: CertFiles, ca_path: Path) -> str:
    plan = PLANS[instance.plan]
    denied = " ".join(f"-{c}" for c in APP_DENIED_COMMANDS)
    lines = [
        "# written by paas from instance.json: edits here are replaced",
        f"bind {LOOPBACK}",
        "protected-mode yes",
        f"port {instance.port}",
        f"tls-port {instance.tls_port}",
        f'tls-cert-file "{tls.cert_path}"',
        f'tls-key-file "{tls.key_path}"',
        f'tls-ca-cert-file "{ca_path}"',
        "tls-auth-clients no",
        'tls-protocols "TLSv1.2 TLSv1.3"',
        "daemonize no",
        f'pidfile "{files.pid_path}"',
        f'logfile "{files.log_path}"',
        "loglevel notice",
        # the configuration file's path in the process title: how an adopted server is recognised
        'proc-title-template "{title} {listen-addr} {config-file}"',
        f'dir "{files.data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        f"maxmemory {plan.memory_mb}mb",
        f"maxmemory-policy {instance.policy}",
        f"maxclients {plan.connections}",
        f"timeout {instance.timeout}",
        f"user default on #{password_hash(instance.password)} ~* &* +@all {denied} +acl|whoami",
        f"user {ADMIN_USER} on #{password_hash(instance.admin_password)} ~* &* +@all",
    ]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Atomically, created 0600 from the start (never briefly readable by others)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class InstanceFiles:
    def __init__(self, root: Path, name: str):
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"add-on name {name!r} is not a plain directory name")
        self.root = root
        self.name = name
        self.dir = root / name
        self.state_path = self.dir / "instance.json"
        self.conf_path = self.dir / "redis.conf"
        self.data_dir = self.dir / "data"
        self.pid_path = self.dir / "redis.pid"
        self.log_path = self.dir / "redis.log"

    def create_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        self.dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        self.data_dir.mkdir(exist_ok=True, mode=0o700)

    def load(self) -> Instance | None:
        try:
            return Instance.from_json(json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, instance: Instance) -> None:
        self.create_dirs()
        _write_private(self.state_path, json.dumps(asdict(instance), indent=2))

    def write_conf(self, instance: Instance, tls: CertFiles, ca_path: Path) -> None:
        _write_private(self.conf_path, render_conf(instance, self, tls, ca_path))

    def read_pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.dir)


def instance_names(root: Path) -> list[str]:
    """The add-ons that have a directory (whatever state it is in)."""
    try:
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _SAFE_NAME.fullmatch(p.name))
    except FileNotFoundError:
        return []
