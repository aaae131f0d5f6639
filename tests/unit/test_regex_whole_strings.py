"""Validators match whole strings: no regular expression in the product uses `$`.

`$` also matches just before a trailing newline, so `re.match(r"^[a-z]+$", "app\\n")` succeeds:
that is how `nlapp\\n` became an app name beside `nlapp` and `FOO\\n` a config key. Validate with
`fullmatch` (or anchor with `\\Z`); this scan keeps `$` from coming back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("common", "paas", "router", "dynos", "tui")
RE_FUNCTIONS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}
# `.match` checks a prefix only: fine for a parser that reads the head of a line, never for a
# validator. Each use outside a validator is listed here with its reason.
PREFIX_PARSERS = {
    ("tui/model.py", "_ROUTER_HEAD"): "reads `at=... code=...` at the head of a router line",
    ("paas/logs/drains.py", "L10_COUNT"): "reads the dropped-line count at the head of an L10 line",
}


def unescaped_dollar(pattern: str) -> bool:
    """True when `pattern` holds a `$` anchor (not `\\$`, not inside a character class)."""
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            return True
    return False


def regex_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id == "re" and node.func.attr in RE_FUNCTIONS):
            continue
        first = node.args[0]
        if isinstance(first, ast.BinOp):  # rb"(.{1,%d})" % N
            first = first.left
        if isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
            value = first.value if isinstance(first.value, str) else first.value.decode("latin-1")
            yield node.lineno, value


def test_the_scanner_sees_the_bug_class() -> None:
    assert unescaped_dollar(r"^[a-z]+$") and unescaped_dollar(r"(?=.{1,5}$)x")
    assert (
        not unescaped_dollar(r"[a-z]+\Z")
        and not unescaped_dollar(r"cost \$5")
        and not unescaped_dollar("[$]")
    )
    found = list(regex_literals(ast.parse('import re\nX = re.compile(r"^a$")\nre.match("b$", s)\n')))
    assert found == [(2, "^a$"), (3, "b$")]


def test_no_product_regex_anchors_with_dollar() -> None:
    offenders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, pattern in regex_literals(ast.parse(path.read_text(), str(path))):
                if unescaped_dollar(pattern):
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {pattern!r}")
    assert offenders == [], "use fullmatch (or \\Z): `$` also matches before a trailing newline"


def prefix_matches(tree: ast.AST) -> Iterator[str]:
    """The names whose `.match(...)` is called (`re` for `re.match`)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "match"
            and isinstance(node.func.value, ast.Name)
        ):
            yield node.func.value.id


def test_validators_match_whole_strings_and_prefix_matching_is_named() -> None:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name in prefix_matches(ast.parse(path.read_text(), str(path))):
                if (rel, name) not in PREFIX_PARSERS:
                    found.append(f"{rel}: {name}.match(...)")
    assert found == [], "validate with fullmatch; a parser that reads a prefix goes in PREFIX_PARSERS"
