"""Read the pixels of a PNG screenshot (8-bit RGB/RGBA, not interlaced: what Chromium writes),
so browser tests can check a known region's colours without an imaging library."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type → bytes a pixel (RGB, RGBA)


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = x * self.channels
        r, g, b = self.rows[y][i : i + 3]
        return r, g, b

    def count(self, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
        """Pixels within `tolerance` of `rgb` on every channel."""
        return sum(
            1
            for y in range(self.height)
            for x in range(self.width)
            if all(abs(a - b) <= tolerance for a, b in zip(self.pixel(x, y), rgb, strict=True))
        )


def read_png(data: bytes) -> Image:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    pos, idat, header = len(SIGNATURE), b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = CHANNELS[colour]
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels)
        rows.append(bytes(row))
        previous = bytes(row)
    return Image(width, height, channels, rows)


def _unfilter(kind: int, row: bytearray, prev: bytes, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, corner)) & 0xFF
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB of every pixel, row by row)."""
    image = read_png(png)
    return (
        image.width,
        image.height,
        [image.pixel(x, y) for y in range(image.height) for x in range(image.width)],
    )


def count_near(rgb: list[tuple[int, int, int]], color: str, tolerance: int = 24) -> int:
    """Pixels within `tolerance` of `#rrggbb` on every channel."""
    want = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return sum(1 for p in rgb if all(abs(p[k] - want[k]) <= tolerance for k in range(3)))
