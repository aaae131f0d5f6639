"""Check JSON values against the TypeScript types of npm `@heroku-cli/schema` (`lib/index.d.ts`).

That file is generated (json-schema-to-typescript) from Heroku's Platform API JSON schema, so
its interfaces are Heroku's resource shapes: field names, JSON types, which fields are
required, string-literal enums. This module parses the subset of TypeScript the file uses
(`export interface X {...}`, `export type X = ...`, object literals with optional members and
`[k: string]: unknown`, unions, arrays, string literals, references) into small typed nodes
and validates a value against a named type, reporting every mismatch with its JSON path.

One reading is not TypeScript's: json-schema-to-typescript writes a JSON schema's nullable
object (`"type": ["null", "object"]`) as `{...} & ({...} | null)`, which in TypeScript admits no
null at all; here `null` satisfies such an intersection when one of its parts admits it. Its
array of objects (`{...} & {...}[]`, an intersection of an object and an array in TypeScript)
is read as an array whose items satisfy every part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_$][A-Za-z0-9_$?]*)|(?P<punct>[{}()\[\]|:;,=&]))"
)
COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@dataclass(frozen=True)
class Prim:
    name: str  # string | number | boolean | null | unknown | never | object


@dataclass(frozen=True)
class Lit:
    value: str | float | bool


@dataclass(frozen=True)
class Arr:
    item: Node


@dataclass(frozen=True)
class Union:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Both:
    parts: tuple[Node, ...]  # `A & B`: the value satisfies each


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Member:
    name: str
    type: Node
    optional: bool


@dataclass(frozen=True)
class Obj:
    members: tuple[Member, ...]
    open: bool  # `[k: string]: unknown`: other fields may appear


Node = Prim | Lit | Arr | Union | Both | Ref | Obj


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = [m.group(0).strip() for m in TOKEN.finditer(COMMENTS.sub("", text))]
        self.pos = 0

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if expected is not None and token != expected:
            raise SyntaxError(f"expected {expected!r}, found {token!r} at token {self.pos}")
        self.pos += 1
        return token

    def declarations(self) -> dict[str, Node]:
        found: dict[str, Node] = {}
        while self.peek():
            self.take("export")
            kind = self.take()
            name = self.take()
            if kind == "interface":
                found[name] = self.object()
            elif kind == "type":
                self.take("=")
                found[name] = self.type()
            else:
                raise SyntaxError(f"unexpected declaration {kind!r}")
        return found

    def type(self) -> Node:
        if self.peek() == "|":
            self.take()
        options = [self.intersection()]
        while self.peek() == "|":
            self.take()
            options.append(self.intersection())
        return options[0] if len(options) == 1 else Union(tuple(options))

    def intersection(self) -> Node:
        parts = [self.postfix()]
        while self.peek() == "&":
            self.take()
            parts.append(self.postfix())
        return parts[0] if len(parts) == 1 else Both(tuple(parts))

    def postfix(self) -> Node:
        node = self.primary()
        while self.peek() == "[" and self.peek(1) == "]":
            self.take()
            self.take()
            node = Arr(node)
        return node

    def primary(self) -> Node:
        token = self.take()
        if token == "(":
            inner = self.type()
            self.take(")")
            return inner
        if token == "{":
            self.pos -= 1
            return self.object()
        if token[0] in "'\"":
            return Lit(token[1:-1])
        if token in ("true", "false"):
            return Lit(token == "true")
        if token in ("string", "number", "boolean", "null", "unknown", "never", "object", "any"):
            return Prim("unknown" if token == "any" else token)
        if re.fullmatch(r"-?\d+(\.\d+)?", token):
            return Lit(float(token))
        return Ref(token)

    def object(self) -> Obj:
        self.take("{")
        members: list[Member] = []
        open_ = False
        while self.peek() != "}":
            if self.peek() == "[":  # [k: string]: unknown
                while self.take() != "]":
                    pass
                self.take(":")
                self.type()
                open_ = True
            else:
                raw = self.take()
                optional = raw.endswith("?")
                name = raw.rstrip("?")
                if self.peek() == "?":
                    self.take()
                    optional = True
                self.take(":")
                members.append(Member(name, self.type(), optional))
            if self.peek() in (";", ","):
                self.take()
        self.take("}")
        return Obj(tuple(members), open_)


@dataclass
class Schema:
    types: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Schema:
        return cls(Parser(path.read_text()).declarations())

    def resolve(self, node: Node) -> Node:
        while isinstance(node, Ref):
            node = self.types[node.name]
        return node

    def errors(self, value: Any, type_name: str, path: str = "$") -> list[str]:
        return self.check(value, Ref(type_name), path)

    def check(self, value: Any, node: Node, path: str) -> list[str]:
        node = self.resolve(node)
        if isinstance(node, Prim):
            return (
                []
                if _prim_ok(value, node.name)
                else [f"{path}: {_kind(value)} where {node.name} is declared"]
            )
        if isinstance(node, Lit):
            return [] if value == node.value else [f"{path}: {value!r} is not {node.value!r}"]
        if isinstance(node, Arr):
            if not isinstance(value, list):
                return [f"{path}: {_kind(value)} where an array is declared"]
            return [e for i, item in enumerate(value) for e in self.check(item, node.item, f"{path}[{i}]")]
        if isinstance(node, Both):
            return self.check_both(value, node, path)
        if isinstance(node, Union):
            results = [self.check(value, option, path) for option in node.options]
            return [] if any(not r for r in results) else min(results, key=len)
        assert isinstance(node, Obj)  # resolve() followed every reference
        return self.check_object(value, node, path)

    def check_both(self, value: Any, node: Both, path: str) -> list[str]:
        if value is None and any(not self.check(None, part, path) for part in node.parts):
            return []  # `{...} & ({...} | null)`: how the generator writes a nullable object
        arrays = [part for part in node.parts if isinstance(self.resolve(part), Arr)]
        if arrays and isinstance(value, list):
            # `{...} & {...}[]`: how the generator writes an array of objects
            items = [p for p in node.parts if p not in arrays]
            items += [a.item for a in (self.resolve(x) for x in arrays) if isinstance(a, Arr)]
            return [
                e for i, v in enumerate(value) for part in items for e in self.check(v, part, f"{path}[{i}]")
            ]
        return [e for part in node.parts for e in self.check(value, part, path)]

    def check_object(self, value: Any, node: Obj, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: {_kind(value)} where an object is declared"]
        problems = []
        for member in node.members:
            if member.name not in value:
                if not member.optional:
                    problems.append(f"{path}.{member.name}: required, missing")
                continue
            problems += self.check(value[member.name], member.type, f"{path}.{member.name}")
        return problems

    def declared_fields(self, type_name: str) -> list[str]:
        node = self.resolve(Ref(type_name))
        assert isinstance(node, Obj), type_name
        return [m.name for m in node.members]


def _prim_ok(value: Any, name: str) -> bool:
    if name in ("unknown", "object"):
        return name == "unknown" or isinstance(value, dict)
    if name == "string":
        return isinstance(value, str)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    return False  # never


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
