"""A minimal blocking Kafka client speaking kio types: for tests and probes, not for apps."""

from __future__ import annotations

import socket
import struct
from typing import Any

from kio.serial import entity_reader
from kio.static.constants import EntityType

from . import protocol as P


class WireClient:
    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, api_key: int, version: int, values: dict[str, Any]) -> int:
        self.correlation += 1
        body = P.build(P.payload_class(api_key, version, EntityType.request), values)
        self.sock.sendall(P.encode_request(api_key, version, self.correlation, body))
        return self.correlation

    def receive(self, api_key: int, version: int) -> Any:
        size = struct.unpack(">i", self._exactly(4))[0]
        payload = self._exactly(size)
        cls = P.response_class(api_key, version)
        pos = 4
        if cls.__header_schema__.__flexible__:
            pos += 1  # empty tag block
        body, _ = entity_reader(cls)(payload, pos)
        return body

    def request(self, api_key: int, version: int, values: dict[str, Any]) -> Any:
        self.send(api_key, version, values)
        return self.receive(api_key, version)

    def sasl_plain(self, username: str, password: str) -> Any:
        self.request(P.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        return self.request(P.SASL_AUTHENTICATE, 2, {"auth_bytes": f"\0{username}\0{password}".encode()})

    def is_closed(self, wait: float = 2.0) -> bool:
        """True when the broker closed the connection (reads EOF within `wait`)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, BlockingIOError):
            return False
        except ConnectionError:
            return True

    def _exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)
