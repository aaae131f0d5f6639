"""Read the pixels of a PNG screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes),
so a browser test can check what a chart really drew. Standard library only."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind: int, row: bytearray, prev: bytes, bpp: int) -> None:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prev[i]
        corner = prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, corner)) & 0xFF


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB of every pixel, row by row)."""
    assert png.startswith(SIGNATURE), "not a PNG"
    pos, data, width, height, bpp = len(SIGNATURE), b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, "unsupported PNG"
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            data += body
    raw = zlib.decompress(data)
    stride = width * bpp
    prev = bytes(stride)
    out: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], row, prev, bpp)
        out += [(row[i], row[i + 1], row[i + 2]) for i in range(0, stride, bpp)]
        prev = bytes(row)
    return width, height, out


def count_near(rgb: list[tuple[int, int, int]], color: str, tolerance: int = 24) -> int:
    """Pixels within `tolerance` of `#rrggbb` on every channel."""
    want = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return sum(1 for p in rgb if all(abs(p[k] - want[k]) <= tolerance for k in range(3)))
