"""The channel between the daemon and a router process: framing and the shapes sent over it.

A frame is a 4-byte big-endian length and a body. Control messages (snapshot, changes, acks,
queries, figures) are JSON objects: rare, and readable by a person when debugging. The one frame
sent at request rate, a batch of request records and log lines (`op: out`), is marshal data
instead, flagged by the length word's top bit: JSON cost ~1.8 µs per record to write and ~3 µs
to read (bench/router.py measured it as the largest single cost of a router process), marshal
~0.3 µs each way. Both ends are our own processes on a socket pair, and marshal carries plain
data only (tuples, strings, numbers, None), so nothing in a frame can run code.

Only data crosses: routes, custom domains, faults as their API form, certificate *paths*
(never key material), router settings, request records and log lines.
"""

from __future__ import annotations

import asyncio
import json
import marshal
import struct
from dataclasses import fields
from typing import Any

from common.config import Settings
from router.certstore import CertPaths
from router.faults.registry import FaultRegistry, make_fault
from router.metrics import RequestRecord
from router.table import AppRoute, Backend

_HEAD = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # a snapshot of many apps; anything larger is a broken peer
_MARSHAL = 0x8000_0000  # the length word's top bit: the body is an `out` batch in marshal form

Message = dict[str, Any]


class ChannelClosed(Exception):
    """The other end went away (or sent something that is not a frame)."""


def encode(message: Message) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEAD.pack(len(body)) + body


def encode_out(lines: list[tuple[str, str]], records: list[tuple[Any, ...]]) -> bytes:
    """A batch of log lines (app, text) and records (`record_to_wire`), in marshal form."""
    body = marshal.dumps((lines, records))
    return _HEAD.pack(len(body) | _MARSHAL) + body


async def read_message(reader: asyncio.StreamReader) -> Message:
    try:
        head = await reader.readexactly(_HEAD.size)
        (word,) = _HEAD.unpack(head)
        size = word & ~_MARSHAL
        if size > MAX_FRAME:
            raise ChannelClosed(f"frame of {size} bytes")
        body = await reader.readexactly(size)
        if word & _MARSHAL:
            return _decode_out(body)
        message = json.loads(body)
    except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
        raise ChannelClosed(str(exc)) from None
    if not isinstance(message, dict):
        raise ChannelClosed("frame is not an object")
    return message


def _decode_out(body: bytes) -> Message:
    try:
        lines, records = marshal.loads(body)
    except (EOFError, TypeError, ValueError) as exc:
        raise ChannelClosed(f"bad record batch: {exc}") from None
    if not isinstance(lines, list) or not isinstance(records, list):
        raise ChannelClosed("bad record batch: not two lists")
    return {"op": "out", "lines": lines, "records": records}


# ---- routes --------------------------------------------------------------------------------
def route_to_wire(route: AppRoute) -> list[Any]:
    return [
        route.name,
        route.maintenance,
        route.released,
        route.web_quantity,
        [list(b) for b in route.backends],
        route.booting,
        route.crashed,
        route.keepalive,
    ]


def route_from_wire(data: list[Any]) -> AppRoute:
    name, maintenance, released, quantity, backends, booting, crashed, keepalive = data
    return AppRoute(
        name=name,
        maintenance=maintenance,
        released=released,
        web_quantity=quantity,
        backends=[Backend(dyno, host, port) for dyno, host, port in backends],
        booting=booting,
        crashed=crashed,
        keepalive=keepalive,
    )


# ---- request records -----------------------------------------------------------------------
def record_to_wire(rec: RequestRecord) -> tuple[Any, ...]:
    """The record's fields in declaration order (spelled out: this runs once per request)."""
    return (
        rec.app, rec.dyno, rec.code, rec.status, rec.connect_ms, rec.service_ms, rec.bytes,
        rec.method, rec.path, rec.host, rec.request_id, rec.at, rec.total_ms, rec.ts,
    )  # fmt: skip


def record_from_wire(data: list[Any] | tuple[Any, ...]) -> RequestRecord:
    return RequestRecord(*data)


# ---- faults --------------------------------------------------------------------------------
def faults_to_wire(registry: FaultRegistry, app: str) -> list[Any]:
    """An app's faults as (target, API form) pairs: what the API accepted, re-made by the worker."""
    return [[e.target, e.fault.to_json()] for e in registry.entries(app)]


def faults_from_wire(registry: FaultRegistry, app: str, data: list[Any]) -> None:
    """Replace one app's faults; a fault that stays keeps its connection count."""
    kept = {(e.target, json.dumps(e.fault.to_json(), sort_keys=True)): e for e in registry.entries(app)}
    registry.clear(app)
    for target, spec in data:
        fault = make_fault(
            spec["type"],
            spec["attributes"],
            name=spec["name"],
            stream=spec["stream"],
            toxicity=spec["toxicity"],
        )
        entry = registry.add(app, target, fault)
        old = kept.get((target, json.dumps(spec, sort_keys=True)))
        if old is not None:
            entry.connections = old.connections


# ---- certificates and settings ---------------------------------------------------------------
def certs_to_wire(mapping: dict[str, CertPaths]) -> dict[str, list[Any]]:
    return {host: [p.cert_path, p.key_path, p.version] for host, p in mapping.items()}


def certs_from_wire(data: dict[str, list[Any]]) -> dict[str, CertPaths]:
    return {host: CertPaths(cert, key, version) for host, (cert, key, version) in data.items()}


def settings_to_wire(settings: Settings) -> dict[str, Any]:
    """The router's own settings (timers and limits); nothing about paths or other parts."""
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name.startswith("router_")}


def settings_from_wire(data: dict[str, Any]) -> Settings:
    return Settings().with_(**data)
