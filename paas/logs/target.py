"""A drain URL, checked: syslog://host[:port], syslog+tls://host:port, http(s)://host[:port]/path."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from common.errors import invalid

SCHEMES = ("syslog", "syslog+tls", "http", "https")
SYSLOG_PORT = 514
MAX_URL = 2048


@dataclass(frozen=True)
class DrainTarget:
    url: str
    scheme: str
    host: str
    port: int

    @property
    def is_syslog(self) -> bool:
        return self.scheme.startswith("syslog")

    @property
    def tls(self) -> bool:
        return self.scheme in ("syslog+tls", "https")

    @property
    def shown(self) -> str:
        """The URL without credentials, for the daemon's own messages."""
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_target(url: str) -> DrainTarget:
    """The drain's target, or a 422 that says what is wrong with the URL."""
    if not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise invalid(f"Url is invalid: give a URL of at most {MAX_URL} characters, without spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid("Url is invalid: its port is not a number from 1 to 65535.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise invalid(f"Url is invalid: the scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}.")
    host = parts.hostname or ""
    if not host:
        raise invalid("Url is invalid: it names no host.")
    if scheme == "syslog+tls" and port is None:
        raise invalid("Url is invalid: a syslog+tls drain needs a port (syslog+tls://host:port).")
    if port == 0:
        raise invalid("Url is invalid: its port is not a number from 1 to 65535.")
    if scheme in ("http", "https"):
        try:
            httpx.URL(url)
        except (httpx.InvalidURL, ValueError):
            raise invalid("Url is invalid: it is not a URL an HTTP client can send to.") from None
    default = {"syslog": SYSLOG_PORT, "http": 80, "https": 443}.get(scheme, SYSLOG_PORT)
    return DrainTarget(url, scheme, host, port or default)
