"""Kafka wire framing on top of `kio`: request decoding, response encoding, version table.

A frame is `int32 size` + payload. The payload starts with a request header (v1, or v2 with a
tagged-field block for flexible versions); the body is parsed by kio's native reader for the
exact (api_key, version) pair. Responses are kio dataclasses written by kio's writer behind a
response header (v0, or v1 for flexible versions; ApiVersions always v0).

`build(cls, mapping)` turns plain dicts into kio dataclasses for whichever version a client
negotiated: keys the version lacks are dropped, fields the caller left out get their zero
value, so one handler serves every version.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import io
import struct
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kio.index import load_entity_module
from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_reader, entity_writer
from kio.static.constants import EntityType

from .tolerant import nested_entity, tolerant_reader

# api_key -> (min, max) advertised in ApiVersions: exactly the versions every handler serves
# completely (RecordBatch v2 only, no topic IDs, no transactions). Produce v0-2 and Fetch v0-3
# (message formats 0 and 1) are not listed: librdkafka before 2.11.1 then sends gzip/snappy/lz4
# batches uncompressed (its compression check looks for Produce v0, librdkafka #4956) and keeps
# working; Apache Kafka 4.0 lists them without serving them instead (KAFKA-18659).
ADVERTISED: dict[int, tuple[int, int]] = {
    0: (3, 8),  # Produce
    1: (4, 12),  # Fetch
    2: (1, 5),  # ListOffsets
    3: (0, 9),  # Metadata
    8: (2, 8),  # OffsetCommit
    9: (1, 7),  # OffsetFetch
    10: (0, 3),  # FindCoordinator
    11: (0, 7),  # JoinGroup
    12: (0, 4),  # Heartbeat
    13: (0, 4),  # LeaveGroup
    14: (0, 5),  # SyncGroup
    15: (0, 5),  # DescribeGroups
    16: (0, 4),  # ListGroups
    17: (0, 1),  # SaslHandshake
    18: (0, 3),  # ApiVersions
    19: (2, 6),  # CreateTopics
    20: (1, 5),  # DeleteTopics
    21: (0, 2),  # DeleteRecords
    22: (0, 4),  # InitProducerId
    29: (1, 3),  # DescribeAcls
    30: (1, 3),  # CreateAcls
    31: (1, 3),  # DeleteAcls
    32: (1, 4),  # DescribeConfigs
    36: (0, 2),  # SaslAuthenticate
    37: (0, 3),  # CreatePartitions
    42: (0, 2),  # DeleteGroups
    44: (0, 1),  # IncrementalAlterConfigs
    47: (0, 0),  # OffsetDelete
    48: (0, 1),  # DescribeClientQuotas
    49: (0, 1),  # AlterClientQuotas
    50: (0, 0),  # DescribeUserScramCredentials
    51: (0, 0),  # AlterUserScramCredentials
    60: (0, 1),  # DescribeCluster
}

API_NAMES: dict[int, str] = {key: api_key_map[key] for key in ADVERTISED}

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, SASL_HANDSHAKE, API_VERSIONS = 15, 16, 17, 18
CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS, INIT_PRODUCER_ID = 19, 20, 21, 22
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
DESCRIBE_CONFIGS, SASL_AUTHENTICATE, CREATE_PARTITIONS = 32, 36, 37
DELETE_GROUPS, INCREMENTAL_ALTER_CONFIGS, OFFSET_DELETE = 42, 44, 47
DESCRIBE_CLIENT_QUOTAS, ALTER_CLIENT_QUOTAS = 48, 49
DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS = 50, 51
DESCRIBE_CLUSTER = 60


class FrameError(Exception):
    """The frame cannot be understood; the connection is closed (as Kafka does)."""


class UnknownApi(FrameError):
    pass


@dataclass(slots=True)
class Request:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body: Any  # a kio request dataclass; None when it could not be read (an unsupported version)
    size: int  # payload bytes, for accounting
    supported: bool = True  # False: a version we do not serve, answered with UNSUPPORTED_VERSION

    @property
    def name(self) -> str:
        return API_NAMES.get(self.api_key, str(self.api_key))


@functools.cache
def payload_class(api_key: int, version: int, kind: Any) -> Any:
    """The kio request or response class (kind: EntityType.request / .response)."""
    name = api_key_map[api_key]
    module = load_entity_module(name, version, kind)
    path = schema_name_map[name][version][kind]
    return getattr(module, path.split(":", 1)[1])


def known_versions(api_key: int) -> list[int]:
    """The versions of an API whose schema kio ships (Apache Kafka's message JSON files)."""
    name = api_key_map.get(api_key)
    return sorted(schema_name_map.get(name, {})) if name is not None else []


def served(api_key: int, version: int) -> bool:
    low, high = ADVERTISED.get(api_key, (0, -1))
    return low <= version <= high and version in known_versions(api_key)


@functools.cache
def _reader(cls: Any) -> Callable[[Any, int], tuple[Any, int]]:
    return entity_reader(cls)


_HEADER = struct.Struct(">hhih")


def _read_uvarint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise FrameError("truncated varint in request header")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise FrameError("varint too long in request header")


def _read_header(payload: bytes | memoryview) -> tuple[int, int, int, str | None, int]:
    """api_key, version, correlation_id, client_id and where the rest starts (request header v1)."""
    if len(payload) < _HEADER.size:
        raise FrameError(f"frame of {len(payload)} bytes is shorter than a request header")
    api_key, version, correlation_id, client_len = _HEADER.unpack_from(payload, 0)
    pos = _HEADER.size
    if client_len < -1:
        raise FrameError(f"negative client_id length {client_len}")
    if client_len < 0:
        return api_key, version, correlation_id, None, pos
    if pos + client_len > len(payload):
        raise FrameError("client_id runs past the end of the frame")
    try:
        client_id = bytes(payload[pos : pos + client_len]).decode()
    except UnicodeDecodeError:
        raise FrameError("client_id is not UTF-8") from None
    return api_key, version, correlation_id, client_id, pos + client_len


def _skip_header_tags(payload: bytes | memoryview, pos: int) -> int:
    """Request header v2: a tagged-field block; none is defined, every one is skipped (KIP-482)."""
    count, pos = _read_uvarint(payload, pos)
    for _ in range(count):
        _tag, pos = _read_uvarint(payload, pos)
        size, pos = _read_uvarint(payload, pos)
        pos += size
    if pos > len(payload):
        raise FrameError("request header tags run past the end of the frame")
    return pos


def read_body(cls: Any, payload: bytes | memoryview, pos: int) -> Any:
    """The request body: kio's native reader, or the tag-tolerant one when a tagged field is unknown.

    Bytes after the body are ignored, as Apache Kafka's request parser does.
    """
    try:
        body, _used = _reader(cls)(payload, pos)
        return body
    except Exception:  # kio raises many types for bad input; retry tolerating unknown tags
        pass
    body, _used = tolerant_reader(cls)(payload, pos)
    return body


def decode_request(payload: bytes | memoryview) -> Request:
    """Parse one frame payload (without the size prefix). Raises FrameError, nothing else."""
    api_key, version, correlation_id, client_id, pos = _read_header(payload)
    if api_key not in ADVERTISED:
        raise UnknownApi(f"unknown API key {api_key}")
    if not served(api_key, version):
        body = _unsupported_body(api_key, version, payload, pos)
        return Request(api_key, version, correlation_id, client_id, body, len(payload), supported=False)
    cls = payload_class(api_key, version, EntityType.request)
    if cls.__flexible__:
        pos = _skip_header_tags(payload, pos)
    try:
        body = read_body(cls, payload, pos)
    except Exception as exc:  # kio raises many types for bad input; all mean "malformed"
        raise FrameError(f"malformed {API_NAMES[api_key]} v{version} request: {exc}") from None
    return Request(api_key, version, correlation_id, client_id, body, len(payload))


def _unsupported_body(api_key: int, version: int, payload: bytes | memoryview, pos: int) -> Any:
    """The body of a request at a version we do not serve, when kio can read it (else None)."""
    if api_key == API_VERSIONS or version not in known_versions(api_key):
        return None
    cls = payload_class(api_key, version, EntityType.request)
    try:
        if cls.__flexible__:
            pos = _skip_header_tags(payload, pos)
        return read_body(cls, payload, pos)
    except Exception:  # only used to echo names back in the error answer
        return None


# ---------------------------------------------------------------- responses


@functools.cache
def _writer(cls: Any) -> Callable[[Any, Any], None]:
    return entity_writer(cls)


def response_class(api_key: int, version: int) -> Any:
    return payload_class(api_key, version, EntityType.response)


def encode_response(correlation_id: int, response: Any) -> bytes:
    """Size prefix + response header + body."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(struct.pack(">i", correlation_id))
    if response.__header_schema__.__flexible__:
        buf.write(b"\0")  # empty tagged-field block
    _writer(type(response))(buf, response)  # type: ignore[arg-type]
    data = buf.getbuffer()
    struct.pack_into(">i", data, 0, len(data) - 4)
    del data
    return buf.getvalue()


def encode_request(
    api_key: int, version: int, correlation_id: int, body: Any, client_id: str = "paas"
) -> bytes:
    """Used by tests and tools to speak to the broker with kio types."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    cid = client_id.encode()
    buf.write(_HEADER.pack(api_key, version, correlation_id, len(cid)))
    buf.write(cid)
    if type(body).__flexible__:
        buf.write(b"\0")
    _writer(type(body))(buf, body)  # type: ignore[arg-type]
    data = buf.getbuffer()
    struct.pack_into(">i", data, 0, len(data) - 4)
    del data
    return buf.getvalue()


# ------------------------------------------------------------ the builder


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    convert: Callable[[Any], Any]
    zero: Callable[[], Any] | None  # None when the dataclass has its own default


_ZEROS: dict[str, Any] = {
    **dict.fromkeys(("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"), 0),
    "float64": 0.0,
    "bool": False,
    "string": "",
    "bytes": b"",
    "records": b"",
    "error_code": ErrorCode.none,
    "uuid": uuid.UUID(int=0),
}


def _zero_for(kafka_type: str, hint: Any, optional: bool) -> Callable[[], Any]:
    if optional:
        return lambda: None
    if kafka_type.startswith("timedelta"):
        return lambda: datetime.timedelta(0)
    value = _ZEROS.get(kafka_type, 0)
    return lambda: value


def _converter(kafka_type: str) -> Callable[[Any], Any]:
    if kafka_type == "error_code":
        return lambda v: v if isinstance(v, ErrorCode) else ErrorCode(int(v))
    if kafka_type.startswith("timedelta"):
        return lambda v: v if isinstance(v, datetime.timedelta) else datetime.timedelta(milliseconds=v)
    if kafka_type == "datetime_i64":
        return lambda v: (
            None
            if v is None or (isinstance(v, int) and v < 0)
            else v
            if isinstance(v, datetime.datetime)
            else datetime.datetime.fromtimestamp(v / 1000, datetime.UTC)
        )
    return lambda v: v


def _field_spec(f: dataclasses.Field[Any], hint: Any) -> _FieldSpec:
    args = typing.get_args(hint)
    optional = type(None) in args
    is_tuple = typing.get_origin(hint) is tuple or any(typing.get_origin(a) is tuple for a in args)
    nested = nested_entity(hint)
    convert: Callable[[Any], Any]
    zero: Callable[[], Any]
    if nested is not None:
        convert = _nested_converter(nested, is_tuple)
        zero = (lambda: None) if optional else (lambda: ()) if is_tuple else _lazy_build(nested)
    elif is_tuple:
        convert, zero = _to_tuple, lambda: ()
    else:
        kafka_type = f.metadata.get("kafka_type", "")
        convert = _converter(kafka_type)
        zero = (lambda: None) if optional else _zero_for(kafka_type, hint, optional)
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    return _FieldSpec(f.name, convert, None if has_default else zero)


@functools.cache
def _spec(cls: Any) -> tuple[_FieldSpec, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(_field_spec(f, hints[f.name]) for f in dataclasses.fields(cls))


def _to_tuple(value: Any) -> Any:
    return None if value is None else tuple(value)


def _lazy_build(cls: Any) -> Callable[[], Any]:
    return lambda: build(cls, {})


def _nested_converter(cls: Any, is_tuple: bool) -> Callable[[Any], Any]:
    def one(value: Any) -> Any:
        if value is None or dataclasses.is_dataclass(value):
            return value
        return build(cls, value)

    if is_tuple:
        return lambda values: None if values is None else tuple(one(v) for v in values)
    return one


def build(cls: Any, values: Mapping[str, Any]) -> Any:
    """kio dataclass `cls` from a dict; unknown keys dropped, missing ones zero-filled."""
    kwargs: dict[str, Any] = {}
    for spec in _spec(cls):
        if spec.name in values:
            kwargs[spec.name] = spec.convert(values[spec.name])
        elif spec.zero is not None:
            kwargs[spec.name] = spec.zero()
    return cls(**kwargs)


def response(api_key: int, version: int, values: Mapping[str, Any]) -> Any:
    return build(response_class(api_key, version), values)


def ms(value: Any, default: int = 0) -> int:
    """A kio timedelta (or int, or None) in whole milliseconds."""
    if value is None:
        return default
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() * 1000)
    return int(value)
