"""Where the Docker engine is and how we talk to it: its address, an SDK client for control
calls, an async HTTP client for the streams, and the engine's errors in a few words."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

PING_TIMEOUT = 3.0
CONTROL_TIMEOUT = 60  # seconds for one SDK call (create, start, remove...)
CONTROL_THREADS = 8
MAX_STREAMS = 1000  # bound on concurrent stats/events/attach connections to the engine

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class EngineError(RuntimeError):
    """The engine answered with an error, or cannot be used (message says why)."""


@dataclass(frozen=True)
class Engine:
    """Where the Docker engine listens: a unix socket, or TCP on loopback."""

    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Engine:
        env = dict(os.environ) if env is None else env
        raw = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if env.get("DOCKER_TLS_VERIFY"):
            raise EngineError(
                "TLS-protected engines (DOCKER_TLS_VERIFY) are not supported; use a local engine"
            )
        url = urlparse(raw)
        if url.scheme == "unix":
            return cls(unix_path=url.path or "/var/run/docker.sock")
        if url.scheme in ("tcp", "http"):
            if url.hostname not in LOCAL_HOSTS:
                raise EngineError(
                    f"DOCKER_HOST={raw}: the engine must run on this machine (slugs are bind-mounted)"
                )
            return cls(host=url.hostname, port=url.port or 2375)
        raise EngineError(f"DOCKER_HOST={raw}: only unix:// and tcp://127.0.0.1 engines are supported")

    @property
    def where(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return "http://docker" if self.unix_path else f"http://{self.host}:{self.port}"

    def async_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=MAX_STREAMS, max_keepalive_connections=8)
        transport = (
            httpx.AsyncHTTPTransport(uds=self.unix_path, limits=limits)
            if self.unix_path
            else (httpx.AsyncHTTPTransport(limits=limits))
        )
        return httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=httpx.Timeout(30, read=None)
        )

    async def open_connection(self, protocol_factory: Any) -> None:
        """A raw connection to the engine for `protocol_factory` (attach streams)."""
        loop = asyncio.get_running_loop()
        if self.unix_path:
            await loop.create_unix_connection(protocol_factory, self.unix_path)
            return
        assert self.host is not None and self.port is not None
        await loop.create_connection(protocol_factory, self.host, self.port)

    def sdk_client(self, timeout: int = CONTROL_TIMEOUT) -> Any:
        """A docker SDK client for control calls (blocking: call it from a thread)."""
        import docker

        url = f"unix://{self.unix_path}" if self.unix_path else f"tcp://{self.host}:{self.port}"
        return docker.DockerClient(
            base_url=url, version="auto", timeout=timeout, max_pool_size=CONTROL_THREADS
        )


def engine_error(exc: BaseException) -> str:
    """The engine's own message for a failed call, first line only."""
    text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0][:300]


def _inner(current: BaseException) -> BaseException | None:
    """The exception wrapped in `current`'s arguments (urllib3 and requests nest them)."""
    for arg in getattr(current, "args", ()):
        if isinstance(arg, BaseException):
            return arg
        if isinstance(arg, tuple):
            inner = next((a for a in arg if isinstance(a, BaseException)), None)
            if inner is not None:
                return inner
    return None


_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (FileNotFoundError, "no such socket"),
    (ConnectionRefusedError, "connection refused"),
    (PermissionError, "permission denied on the socket"),
)


def connect_error(exc: BaseException) -> str:
    """The root cause of a failed connection to the engine, in a few words."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = _inner(current)
        if inner is None:
            current = current.__cause__ or current.__context__
            continue
        current = inner
        for kind, words in _CAUSES:
            if isinstance(current, kind):
                return words
    return engine_error(exc)
