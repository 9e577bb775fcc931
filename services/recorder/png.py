"""A canvas as a PNG image: 8-bit RGB, one colour per cell, with nothing but zlib and struct."""

from __future__ import annotations

import struct
import zlib

from proto.ops.table import BLANK, COLOURS

BLANK_RGB = (255, 255, 255)  # an unpainted cell: paper white, a shade apart from the colour "white"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


CODE_RGB: dict[str, bytes] = {BLANK: bytes(BLANK_RGB), **{c.code: bytes(_rgb(c.rgb)) for c in COLOURS.values()}}


def canvas_png(cells: list[str], scale: int = 8) -> bytes:
    """The PNG of a canvas given as its rows of colour codes (`proto/ops/table.py`), `scale` pixels a cell.

    Raises ValueError for rows of unequal length, no rows, or a character that is no colour code.
    """
    if not cells or not cells[0] or any(len(row) != len(cells[0]) for row in cells) or scale < 1:
        raise ValueError("a canvas needs rows of one length, at least 1x1, and a scale of at least 1")
    width, height = len(cells[0]) * scale, len(cells) * scale
    scanlines = []
    for row in cells:
        try:
            pixels = b"".join(CODE_RGB[code] * scale for code in row)
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]!r} is no colour code") from None
        scanlines.append((b"\x00" + pixels) * scale)  # filter type 0 (none) before each line
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, truecolour, no interlace
    # zlib level 1: a few kB a work, and a tenth of the time of level 9, paid while a reply waits
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(scanlines), 1)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
