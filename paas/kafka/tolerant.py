"""A request reader that skips tagged fields it does not know (KIP-482), for kio's schemas.

kio's native reader is fast but refuses a tagged field its schema lacks, although KIP-482
makes them ignorable: a newer client may always add one (and librdkafka's Metadata v9+
"all topics" request leaves three zero bytes behind its null topic array, which a strict reader
takes for a tagged field). `decode_request` therefore tries the native reader first and falls
back to this one, which walks the same dataclass metadata, reads every known field with kio's
own field readers and steps over each unknown tag by its declared size.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any

from kio._kio_native import (
    get_field_reader,
    read_compact_array_length,
    read_int8,
    read_legacy_array_length,
    read_unsigned_varint,
)

Reader = Callable[[Any, int], tuple[Any, int]]


class TagError(ValueError):
    """A tagged-field block that runs past the end of its entity."""


def nested_entity(hint: Any) -> Any:
    """The kio dataclass inside a field's type hint (`X`, `X | None`, `tuple[X, ...]`), or None."""
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        found = nested_entity(arg)
        if found is not None:
            return found
    return None


def _is_sequence(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple or any(
        typing.get_origin(a) is tuple for a in typing.get_args(hint)
    )


def _array_reader(item: Reader, flexible: bool) -> Reader:
    def read(buf: Any, offset: int) -> tuple[Any, int]:
        start = offset
        if flexible:
            count, used = read_compact_array_length(buf, offset)
        else:
            count, used = read_legacy_array_length(buf, offset)
            count = None if count < 0 else count
        offset += used
        if count is None:
            return None, offset - start
        items = []
        for _ in range(count):
            value, used = item(buf, offset)
            items.append(value)
            offset += used
        return tuple(items), offset - start

    return read


def _nullable_struct(inner: Reader) -> Reader:
    def read(buf: Any, offset: int) -> tuple[Any, int]:
        marker, used = read_int8(buf, offset)
        if marker < 0:
            return None, used
        value, size = inner(buf, offset + used)
        return value, used + size

    return read


def _field_reader(cls: Any, f: dataclasses.Field[Any], hint: Any, tagged: bool) -> Reader:
    nested = nested_entity(hint)
    if nested is None:
        reader: Reader = get_field_reader(cls, f, False, tagged)
        return reader
    inner = tolerant_reader(nested)
    if _is_sequence(hint):
        return _array_reader(inner, cls.__flexible__)
    if type(None) in typing.get_args(hint):
        return _nullable_struct(inner)
    return inner


def _skip_tags(buf: Any, offset: int, tagged: dict[int, tuple[str, Reader]], values: dict[str, Any]) -> int:
    count, used = read_unsigned_varint(buf, offset)
    offset += used
    for _ in range(count):
        tag, used = read_unsigned_varint(buf, offset)
        offset += used
        size, used = read_unsigned_varint(buf, offset)
        offset += used
        if offset + size > len(buf):
            raise TagError(f"tagged field {tag} runs past the end of the request")
        known = tagged.get(tag)
        if known is not None:
            values[known[0]], _ = known[1](buf, offset)
        offset += size
    return offset


@functools.cache
def tolerant_reader(cls: Any) -> Reader:
    hints = typing.get_type_hints(cls)
    plain: list[tuple[str, Reader]] = []
    tagged: dict[int, tuple[str, Reader]] = {}
    for f in dataclasses.fields(cls):
        tag = f.metadata.get("tag")
        reader = _field_reader(cls, f, hints[f.name], tag is not None)
        if tag is None:
            plain.append((f.name, reader))
        else:
            tagged[int(tag)] = (f.name, reader)
    flexible = bool(cls.__flexible__)

    def read(buf: Any, offset: int) -> tuple[Any, int]:
        start = offset
        values: dict[str, Any] = {}
        for name, reader in plain:
            values[name], used = reader(buf, offset)
            offset += used
        if flexible:
            offset = _skip_tags(buf, offset, tagged, values)
        return cls(**values), offset - start

    return read
