"""What the certificate service keeps on disk under `PAAS_HOME/certs/`.

    state.json            which apps have ACM on; the SNI endpoints users added (no secrets)
    sni/<id>.pem, .key    an uploaded certificate chain and its key (0600)

ACM and default certificates are files of the local CA (`ca/issued/{app,acm}-<app id>.*`).
Every write replaces a file whole (write, fsync, rename), so a SIGKILL leaves the old or the
new version; an endpoint whose files are missing is dropped on the next read.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    id: str
    name: str
    app_id: str
    created_at: str
    updated_at: str


def write_file(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class CertState:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sni_dir = directory / "sni"
        self._path = directory / "state.json"
        self._lock = threading.RLock()

    def _ensure(self) -> None:
        self.sni_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path.read_text())
        except (FileNotFoundError, ValueError):
            return {"acm": [], "endpoints": []}
        return data if isinstance(data, dict) else {"acm": [], "endpoints": []}

    def _write(self, data: dict[str, Any]) -> None:
        self._ensure()
        write_file(self._path, json.dumps(data, indent=1, sort_keys=True).encode(), 0o600)

    # ---- ACM ---------------------------------------------------------------------------
    def acm_apps(self) -> set[str]:
        with self._lock:
            return {str(a) for a in self._read().get("acm", [])}

    def set_acm(self, app_id: str, enabled: bool) -> None:
        with self._lock:
            data = self._read()
            apps = {str(a) for a in data.get("acm", [])}
            apps = apps | {app_id} if enabled else apps - {app_id}
            data["acm"] = sorted(apps)
            self._write(data)

    # ---- SNI endpoints -------------------------------------------------------------------
    def endpoints(self, app_id: str | None = None) -> list[Endpoint]:
        with self._lock:
            out = []
            for raw in self._read().get("endpoints", []):
                ep = Endpoint(
                    **{k: str(raw[k]) for k in ("id", "name", "app_id", "created_at", "updated_at")}
                )
                if (app_id is None or ep.app_id == app_id) and self.cert_path(ep).is_file():
                    out.append(ep)
            return out

    def cert_path(self, ep: Endpoint) -> Path:
        return self.sni_dir / f"{ep.id}.pem"

    def key_path(self, ep: Endpoint) -> Path:
        return self.sni_dir / f"{ep.id}.key"

    def add_endpoint(self, ep: Endpoint, chain_pem: str, key_pem: str) -> None:
        """Files first (key 0600), then the record that makes them count."""
        with self._lock:
            self._ensure()
            write_file(self.key_path(ep), key_pem.encode(), 0o600)
            write_file(self.cert_path(ep), chain_pem.encode(), 0o644)
            data = self._read()
            data["endpoints"] = [*data.get("endpoints", []), asdict(ep)]
            self._write(data)

    def remove_endpoint(self, ep: Endpoint) -> None:
        """The record first, then the files (a crash between leaves files nothing points to)."""
        with self._lock:
            data = self._read()
            data["endpoints"] = [e for e in data.get("endpoints", []) if e.get("id") != ep.id]
            self._write(data)
            self.cert_path(ep).unlink(missing_ok=True)
            self.key_path(ep).unlink(missing_ok=True)

    def forget_apps(self, keep: set[str]) -> None:
        """Drop what belongs to apps that no longer exist."""
        with self._lock:
            data = self._read()
            gone = [e for e in self.endpoints() if e.app_id not in keep]
            acm = [a for a in data.get("acm", []) if a in keep]
            if not gone and acm == data.get("acm", []):
                return
            for ep in gone:
                self.remove_endpoint(ep)
            data = self._read()
            data["acm"] = acm
            self._write(data)
