"""The router's certificates for its TLS port: one per hostname, chosen by SNI.

The router never issues a certificate: the daemon's control plane (paas.certs) has the local
CA issue them, keeps the files under PAAS_HOME and hands the router a plain mapping
`hostname → CertPaths` (so a router in another process gets the same mapping as data). A
context per certificate is built on first use and kept until the next `update`.

A client naming a host the store has no certificate for (or naming none: `https://127.0.0.1`)
gets the default certificate, for `localhost` and `127.0.0.1` — Heroku answers an unknown name
with its default `*.herokuapp.com` certificate the same way: the client's name check fails
unless it names what the default covers, and the request, if the client goes on, gets the
router's "no such app" page.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("router")

ALPN = ("h2", "http/1.1")  # Router 2.0 offers both; a client without ALPN gets HTTP/1.1


@dataclass(frozen=True)
class CertPaths:
    cert_path: str  # PEM: the certificate, then any intermediates
    key_path: str  # PEM private key (mode 0600)
    version: int = 0  # changes when the files are rewritten (renewal): the context is rebuilt


class CertStore:
    def __init__(self, default: CertPaths, alpn: Sequence[str] = ALPN) -> None:
        self._alpn = list(alpn)
        self._certs: dict[str, CertPaths] = {}
        self._contexts: dict[CertPaths, ssl.SSLContext] = {}
        self.default_paths = default
        self.default_context = self._context(default)
        self.default_context.sni_callback = self._on_sni
        self.unknown_names = 0  # handshakes that named a host without a certificate (default served)
        self.failures = 0  # certificates that could not be loaded (default served instead)

    def update(self, certs: Mapping[str, CertPaths]) -> None:
        """Replace the whole mapping (host names are matched lower-case, without a root dot)."""
        self._certs = {host.lower().rstrip("."): paths for host, paths in certs.items()}
        self._contexts = {}  # renewed files are read again

    def mapping(self) -> dict[str, CertPaths]:
        return dict(self._certs)

    def hostnames(self) -> list[str]:
        return sorted(self._certs)

    def paths_for(self, server_name: str | None) -> CertPaths:
        if server_name is None:
            return self.default_paths
        return self._certs.get(server_name.lower().rstrip("."), self.default_paths)

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        """The context serving `server_name` (the default one when it has no certificate)."""
        paths = self.paths_for(server_name)
        if paths == self.default_paths:
            return self.default_context
        context = self._contexts.get(paths)
        if context is None:
            context = self._contexts[paths] = self._context(paths)
        return context

    def _context(self, paths: CertPaths) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(paths.cert_path, paths.key_path)
        ctx.set_alpn_protocols(self._alpn)
        return ctx

    def _on_sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        if server_name is None:
            return
        try:
            context = self.context_for(server_name)
        except (OSError, ssl.SSLError, ValueError):
            self.failures += 1
            log.exception("router: the certificate for %s could not be loaded", server_name)
            return
        if context is self.default_context:
            self.unknown_names += 1
            return
        sslobj.context = context
