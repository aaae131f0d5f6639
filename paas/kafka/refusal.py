"""The answer to a request at a version we do not serve: UNSUPPORTED_VERSION, connection kept.

Apache Kafka closes the connection on such a request (only ApiVersions gets an answer, KIP-511);
paas answers every API instead, so a client that skipped version negotiation reads an error it
can report rather than a dropped connection. The answer is the API's own response at the
requested version (or kio's nearest one when kio has no schema for it), with UNSUPPORTED_VERSION
in every error field and the request's topics, partitions, groups or resources echoed back, so
clients match each item to its error.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.constants import EntityType

from . import protocol as P
from .tolerant import nested_entity

# names under which the same item identity appears in requests and responses
_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "topic", "topic_name", "resource_name"),
    "topic": ("topic", "name"),
    "topic_name": ("topic_name", "name", "topic"),
    "partition_index": ("partition_index", "index", "partition"),
    "index": ("index", "partition_index", "partition"),
    "partition": ("partition", "partition_index", "index"),
    "group_id": ("group_id", "key", "name"),
    "member_id": ("member_id",),
    "group_instance_id": ("group_instance_id",),
    "resource_type": ("resource_type",),
    "resource_name": ("resource_name", "name"),
}
_IDENTITIES = set(_ALIASES)


def response_version(api_key: int, version: int) -> int:
    """`version` when kio has the response schema, else the nearest version it has."""
    known = P.known_versions(api_key)
    if version in known:
        return version
    return min(known, key=lambda v: (abs(v - version), -v))


def unsupported_response(req: P.Request) -> Any:
    version = response_version(req.api_key, req.api_version)
    cls = P.payload_class(req.api_key, version, EntityType.response)
    return P.build(cls, _mirror(cls, req.body, ErrorCode.unsupported_version))


def _entity_arrays(obj: Any) -> list[tuple[str, Any]]:
    """(name, items) of every array field of a request entity (entities or strings)."""
    if obj is None or not dataclasses.is_dataclass(obj):
        return []
    return [
        (f.name, getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if isinstance(getattr(obj, f.name), tuple)
        and all(dataclasses.is_dataclass(v) or isinstance(v, str) for v in getattr(obj, f.name))
    ]


def _identity(source: Any, name: str) -> Any:
    if isinstance(source, str):
        return source if name in ("name", "topic", "topic_name", "group_id", "resource_name") else None
    for alias in _ALIASES[name]:
        if hasattr(source, alias):
            return getattr(source, alias)
    return None


def _pairs(response_arrays: list[str], arrays: list[tuple[str, Any]]) -> dict[str, Any]:
    """Which request array feeds each response array: the same name, else the only one left."""
    by_name = dict(arrays)
    paired = {name: by_name[name] for name in response_arrays if name in by_name}
    left_response = [n for n in response_arrays if n not in paired]
    left_request = [items for n, items in arrays if n not in paired]
    if len(left_response) == 1 and len(left_request) == 1:
        paired[left_response[0]] = left_request[0]
    return paired


def _mirror(cls: Any, source: Any, code: ErrorCode) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    response_arrays = [
        f.name
        for f in dataclasses.fields(cls)
        if nested_entity(hints[f.name]) is not None and typing.get_origin(hints[f.name]) is tuple
    ]
    paired = _pairs(response_arrays, _entity_arrays(source))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        nested = nested_entity(hints[f.name])
        if f.name == "error_code":
            values[f.name] = code
        elif f.name == "error_message":
            values[f.name] = "unsupported version of this request"
        elif nested is not None and typing.get_origin(hints[f.name]) is tuple:
            values[f.name] = [_mirror(nested, item, code) for item in paired.get(f.name) or ()]
        elif f.name in _IDENTITIES and source is not None:
            found = _identity(source, f.name)
            if found is not None:
                values[f.name] = found
    return values
