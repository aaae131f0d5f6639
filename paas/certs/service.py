"""Certificates for the router's TLS port: Heroku SSL with the local CA in Let's Encrypt's place.

Every app has a certificate for `<app>.localhost` (Heroku's `*.herokuapp.com` certificate:
always there, ACM or not). With ACM on (`paas certs:auto:enable`), one certificate covers all
of the app's custom domains, issued when a domain is added, issued again when the set of
domains changes, and renewed 30 days before its end (checked every `acm_check_interval`).
A certificate a user uploads (`paas certs:add`, an SNI endpoint) serves the custom domains it
names, ahead of ACM. ACM is off for a new app, as on Heroku.

The router gets only the result: a mapping hostname → certificate files (router.certstore),
pushed whenever it changes. Issuing runs in a worker thread (key generation and disk writes
stay off the event loop).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.ca import CertFiles, LocalCA
from common.config import Settings
from common.errors import invalid, not_found
from paas.certs.pem import CertDetails, check_pair, read_details
from paas.certs.state import CertState, Endpoint
from paas.control import ControlPlane
from paas.control.values import AppInfo
from router.certstore import CertPaths

log = logging.getLogger("paas.certs")

Publish = Callable[[dict[str, CertPaths]], None]

DEFAULT_CERT = "router-default"
DEFAULT_NAMES = ("localhost", "127.0.0.1")
MAX_ENDPOINTS = 20  # per app
_CITIES = ("tokyo", "osaka", "kyoto", "nagano", "sapporo", "sendai", "kobe", "nara", "fukuoka", "kagoshima")


@dataclass(frozen=True)
class DomainCert:
    """How one custom domain is served on the TLS port."""

    acm_status: str | None  # "cert issued" | "pending" | "failed" (ACM on), None (ACM off)
    acm_status_reason: str | None
    endpoint: Endpoint | None  # the uploaded certificate serving it, if any


@dataclass(frozen=True)
class AcmCertificate:
    details: CertDetails
    domains: tuple[str, ...]


def _paths(files: CertFiles) -> CertPaths:
    return _versioned(files.cert_path, files.key_path)


def _versioned(cert: Path, key: Path) -> CertPaths:
    return CertPaths(str(cert), str(key), cert.stat().st_mtime_ns)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CertService:
    def __init__(self, settings: Settings, ca: LocalCA, control: ControlPlane, publish: Publish) -> None:
        self.settings = settings
        self.ca = ca
        self.control = control
        self.state = CertState(settings.certs_dir)
        self._publish = publish
        self._mapping: dict[str, CertPaths] = {}
        self._failed: dict[str, str] = {}  # app id → why its ACM certificate could not be issued
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0

    # ---- the default certificate ---------------------------------------------------------
    def default_paths(self) -> CertPaths:
        """What a client naming no known host gets (`localhost`, `127.0.0.1`)."""
        return _paths(self.ca.server_files(DEFAULT_CERT, DEFAULT_NAMES))

    # ---- computing the mapping (worker thread) --------------------------------------------
    def compute(self) -> dict[str, CertPaths]:
        """Issue or renew what is missing or due, and return hostname → files for every app."""
        apps = self.control.list_apps()
        domains = {info.name: info.domains for info in self.control.route_info()}
        acm = self.state.acm_apps()
        self.state.forget_apps({a.id for a in apps})
        mapping: dict[str, CertPaths] = {"localhost": self.default_paths()}
        for app in apps:
            mapping.update(self._app_mapping(app, domains.get(app.name, ()), app.id in acm))
        self._prune({a.id for a in apps})
        return mapping

    def _app_mapping(self, app: AppInfo, custom: tuple[str, ...], acm: bool) -> dict[str, CertPaths]:
        out = {
            f"{app.name}.localhost": _paths(self.ca.server_files(f"app-{app.id}", [f"{app.name}.localhost"]))
        }
        uncovered = list(custom)
        for ep in self.state.endpoints(app.id):
            paths = _versioned(self.state.cert_path(ep), self.state.key_path(ep))
            found = read_details(self.state.cert_path(ep).read_bytes())
            for host in [h for h in uncovered if found.covers(h)]:
                out[host] = paths
                uncovered.remove(host)
        if acm and uncovered:
            try:
                files = _paths(self.ca.server_files(f"acm-{app.id}", uncovered))
            except (OSError, ValueError) as exc:
                self._failed[app.id] = str(exc)
                log.exception("paas: ACM could not issue a certificate for %s", app.name)
            else:
                self._failed.pop(app.id, None)
                out.update(dict.fromkeys(uncovered, files))
        return out

    def _prune(self, app_ids: set[str]) -> None:
        """Certificates of apps that are gone (and their keys) leave the disk."""
        for path in self.ca.issued_dir.glob("*-*.pem"):
            kind, _, app_id = path.stem.partition("-")
            if kind in ("app", "acm") and app_id not in app_ids:
                path.unlink(missing_ok=True)
                path.with_suffix(".key").unlink(missing_ok=True)

    # ---- pushing it (event loop) -----------------------------------------------------------
    async def refresh(self) -> dict[str, CertPaths]:
        mapping = await asyncio.to_thread(self.compute)
        self.refreshes += 1
        if mapping != self._mapping:
            self._mapping = mapping
            self._publish(mapping)
        return mapping

    def changed(self) -> None:
        """Something certificates depend on changed (an app, its domains): refresh soon."""
        self._dirty.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        """Refresh on change, and every `acm_check_interval` (renewals)."""
        interval = self.settings.acm_check_interval or None
        while True:
            try:
                async with asyncio.timeout(interval):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("paas: refreshing the router's certificates failed")

    # ---- ACM ----------------------------------------------------------------------------------
    def acm_enabled(self, app_id: str) -> bool:
        return app_id in self.state.acm_apps()

    async def set_acm(self, app: AppInfo, enabled: bool) -> None:
        await asyncio.to_thread(self.state.set_acm, app.id, enabled)
        await self.refresh()

    def acm_certificate(self, app: AppInfo) -> AcmCertificate | None:
        path = self._acm_file(app.id)
        if not self.acm_enabled(app.id) or not path.is_file():
            return None
        found = read_details(path.read_bytes())
        return AcmCertificate(found, found.names)

    def acm_endpoint(self, app: AppInfo) -> Endpoint | None:
        """ACM's certificate as Heroku lists it among the SNI endpoints (`ssl_cert.acm`): a stable id
        and a city name derived from the app, dated by the certificate itself."""
        cert = self.acm_certificate(app)
        if cert is None:
            return None
        digest = hashlib.sha256(f"acm:{app.id}".encode()).digest()
        city = _CITIES[digest[0] % len(_CITIES)]
        name = f"{city}-{10000 + int.from_bytes(digest[1:4]) % 90000}"
        issued = cert.details.starts_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        return Endpoint(str(uuid.UUID(bytes=digest[:16], version=5)), name, app.id, issued, issued)

    def domain_cert(self, app: AppInfo, hostname: str) -> DomainCert:
        endpoint = next(
            (ep for ep in self.state.endpoints(app.id) if self.endpoint_details(ep).covers(hostname)), None
        )
        if not self.acm_enabled(app.id):
            return DomainCert(None, None, endpoint)
        if endpoint is not None or self._mapping.get(hostname) is not None:
            return DomainCert("cert issued", None, endpoint)
        reason = self._failed.get(app.id)
        return DomainCert("failed" if reason else "pending", reason, endpoint)

    # ---- SNI endpoints (uploaded certificates) ----------------------------------------------
    def endpoints(self, app: AppInfo) -> list[Endpoint]:
        return self.state.endpoints(app.id)

    def endpoint(self, app: AppInfo, ident: str) -> Endpoint:
        for ep in [*self.state.endpoints(app.id), *filter(None, [self.acm_endpoint(app)])]:
            if ident in (ep.id, ep.name):
                return ep
        raise not_found("sni-endpoint")

    def is_acm(self, ep: Endpoint) -> bool:
        return ep not in self.state.endpoints(ep.app_id)

    def _endpoint_file(self, ep: Endpoint) -> Path:
        return self._acm_file(ep.app_id) if self.is_acm(ep) else self.state.cert_path(ep)

    def _acm_file(self, app_id: str) -> Path:
        """Where the CA keeps ACM's certificate for an app (`server_files("acm-<app id>", ...)`)."""
        return self.ca.issued_dir / f"acm-{app_id}.pem"

    def endpoint_details(self, ep: Endpoint) -> CertDetails:
        return read_details(self._endpoint_file(ep).read_bytes())

    def endpoint_chain(self, ep: Endpoint) -> str:
        return self._endpoint_file(ep).read_text()

    async def add_endpoint(self, app: AppInfo, chain_pem: str, key_pem: str) -> Endpoint:
        check_pair(chain_pem, key_pem)
        if len(self.state.endpoints(app.id)) >= MAX_ENDPOINTS:
            raise invalid(f"An app holds at most {MAX_ENDPOINTS} certificates.")
        taken = {ep.name for ep in self.state.endpoints()}
        name = _endpoint_name(taken)
        now = _now()
        ep = Endpoint(str(uuid.uuid4()), name, app.id, now, now)
        await asyncio.to_thread(self.state.add_endpoint, ep, chain_pem, key_pem)
        await self.refresh()
        return ep

    async def remove_endpoint(self, app: AppInfo, ident: str) -> Endpoint:
        ep = self.endpoint(app, ident)
        if self.is_acm(ep):
            raise invalid("This certificate is managed by ACM: turn it off with certs:auto:disable.")
        await asyncio.to_thread(self.state.remove_endpoint, ep)
        await self.refresh()
        return ep

    def served(self) -> dict[str, CertPaths]:
        return dict(self._mapping)


def _endpoint_name(taken: set[str]) -> str:
    """Heroku names endpoints after Japanese cities: `tokyo-12345`."""
    while True:
        name = f"{random.choice(_CITIES)}-{random.randint(10000, 99999)}"
        if name not in taken:
            return name
