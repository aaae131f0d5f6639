"""paas's own Kafka Admin API client (asyncio, kio types): how the Kafka add-on manages tenants.

It speaks to any Kafka cluster (the embedded broker, or `PAAS_KAFKA_URL`) with SASL (SCRAM-SHA-512,
SCRAM-SHA-256 or PLAIN) over plaintext or TLS, negotiates versions with ApiVersions (the highest
both sides serve, capped at what paas's broker serves) and raises `AdminError` with the Kafka error
name and message for any item that failed. One connection, one request at a time (admin calls are
rare); a broken connection is reopened on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.constants import EntityType

from . import protocol as P
from .scram import BY_NAME, ScramClient, ScramError

_SIZE = struct.Struct(">i")
PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL = "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"


class AdminError(Exception):
    def __init__(self, what: str, code: ErrorCode | int, message: str | None = None):
        self.code = ErrorCode(int(code))
        self.what = what
        self.detail = message
        super().__init__(f"{what}: {self.code.name.upper()}" + (f" ({message})" if message else ""))


@dataclass(frozen=True)
class ClusterAddress:
    """Where a cluster is and how to log in: what PAAS_KAFKA_URL and its credentials describe."""

    host: str
    port: int
    security: str = SASL_PLAINTEXT
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    ca_pem: str | None = None  # trusted CA for TLS (None: the system's)
    verify_hostname: bool = False  # Heroku's own demo apps skip it; certificates name 127.0.0.1 here

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security not in (SSL, SASL_SSL):
            return None
        ctx = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else ssl.create_default_context()
        ctx.check_hostname = self.verify_hostname
        return ctx


class AdminClient:
    def __init__(self, address: ClusterAddress, client_id: str = "paas-admin", timeout: float = 15.0):
        self.address = address
        self.client_id = client_id
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._versions: dict[int, tuple[int, int]] = {}
        self._correlation = 0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # ------------------------------------------------------------ the wire
    async def _connect(self) -> None:
        a = self.address
        async with asyncio.timeout(self.timeout):
            self._reader, self._writer = await asyncio.open_connection(a.host, a.port, ssl=a.ssl_context())
        versions = await self._exchange(P.API_VERSIONS, 0, {})
        if versions.error_code != ErrorCode.none:
            raise AdminError("ApiVersions", versions.error_code)
        self._versions = {k.api_key: (k.min_version, k.max_version) for k in versions.api_keys}
        if a.security in (SASL_PLAINTEXT, SASL_SSL):
            await self._authenticate()

    async def _authenticate(self) -> None:
        a = self.address
        mechanism = a.mechanism.upper()
        shake = await self._exchange(P.SASL_HANDSHAKE, 1, {"mechanism": mechanism})
        if shake.error_code != ErrorCode.none:
            raise AdminError(
                f"SASL {mechanism}", shake.error_code, f"the cluster offers {', '.join(shake.mechanisms)}"
            )
        user, password = a.username or "", a.password or ""
        if mechanism == "PLAIN":
            await self._sasl_round(f"\0{user}\0{password}".encode())
            return
        client = ScramClient(BY_NAME[mechanism], user, password)
        first = await self._sasl_round(client.first())
        try:
            client.verify(await self._sasl_round(client.final(first)))
        except ScramError as exc:
            raise AdminError(f"SASL {mechanism}", ErrorCode.sasl_authentication_failed, str(exc)) from None

    async def _sasl_round(self, token: bytes) -> bytes:
        resp = await self._exchange(
            P.SASL_AUTHENTICATE, self._version(P.SASL_AUTHENTICATE), {"auth_bytes": token}
        )
        if resp.error_code != ErrorCode.none:
            raise AdminError("SASL authentication", resp.error_code, resp.error_message)
        return bytes(resp.auth_bytes)

    def _version(self, api_key: int) -> int:
        ours = P.ADVERTISED[api_key]
        theirs = self._versions.get(api_key)
        if theirs is None or theirs[1] < ours[0] or theirs[0] > ours[1]:
            raise AdminError(
                P.API_NAMES.get(api_key, str(api_key)),
                ErrorCode.unsupported_version,
                "the cluster does not serve it",
            )
        return min(ours[1], theirs[1])

    async def _exchange(self, api_key: int, version: int, values: dict[str, Any]) -> Any:
        assert self._reader is not None and self._writer is not None
        self._correlation += 1
        body = P.build(P.payload_class(api_key, version, EntityType.request), values)
        self._writer.write(P.encode_request(api_key, version, self._correlation, body, self.client_id))
        async with asyncio.timeout(self.timeout):
            await self._writer.drain()
            (size,) = _SIZE.unpack(await self._reader.readexactly(4))
            payload = await self._reader.readexactly(size)
        (correlation,) = _SIZE.unpack_from(payload, 0)
        if correlation != self._correlation:
            raise ConnectionError(f"response {correlation} to request {self._correlation}")
        cls = P.response_class(api_key, version)
        pos = 4
        if cls.__header_schema__.__flexible__ and api_key != P.API_VERSIONS:
            pos = _skip_tags(payload, pos)
        return P.read_body(cls, payload, pos)

    async def call(self, api_key: int, values: dict[str, Any]) -> Any:
        """One request at the negotiated version; reconnects once if the connection broke."""
        async with self._lock:
            for attempt in (1, 2):
                try:
                    if self._writer is None:
                        await self._connect()
                    return await self._exchange(api_key, self._version(api_key), values)
                except (ConnectionError, asyncio.IncompleteReadError, OSError, TimeoutError):
                    await self.close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")


def _skip_tags(payload: bytes, pos: int) -> int:
    count, pos = _uvarint(payload, pos)
    for _ in range(count):
        _tag, pos = _uvarint(payload, pos)
        size, pos = _uvarint(payload, pos)
        pos += size
    return pos


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def check(what: str, code: Any, message: str | None = None, ok: tuple[ErrorCode, ...] = ()) -> None:
    """Raise AdminError unless `code` is NONE (or one of `ok`)."""
    err = ErrorCode(int(code))
    if err != ErrorCode.none and err not in ok:
        raise AdminError(what, err, message)
