"""The GGUF header, read as a stream: metadata and the tensor table, never the tensor data.

One reader for both questions asked of a model file before llama.cpp sees it: is it whole (models.check_gguf:
every tensor inside the file) and what is it (gguf_info.read_info: family, size, quantisation, context). It
reads the header piece by piece and seeks past the vocabulary, so it costs milliseconds where the `gguf`
package's GGUFReader, which builds an array for every token string, was measured at 2 s for SmolLM2 and 12 s
for Gemma 3 on a loaded 2-core machine.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"

# ggml type id -> (elements per block, bytes per block); checked against libggml's ggml_type_size/blck_size.
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}
# GGUF metadata value types -> struct format (8: string, 9: array are variable).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
SHORT_ARRAY = 4096  # numeric arrays up to this length are kept (per-layer head counts); longer ones skipped


class Truncated(Exception):
    """The file ends inside its header."""


@dataclass(frozen=True)
class Tensor:
    n_elements: int
    ggml_type: int
    offset: int   # from the start of the data section
    nbytes: int   # 0 for a type this table does not know


@dataclass(frozen=True)
class Header:
    version: int
    metadata: dict[str, object]  # scalars, strings and short numeric arrays; long arrays (the vocabulary) skipped
    tensors: tuple[Tensor, ...]
    header_end: int  # from the start of the GGUF (not of a file it is embedded in)
    data_start: int  # header_end aligned up to general.alignment
    lengths: dict[str, int] = field(default_factory=dict)  # the length of each array skipped (the vocabulary)

    @property
    def extent(self) -> int:
        """The number of bytes the GGUF must have: its header and every tensor."""
        if not self.tensors:
            return self.header_end
        return self.data_start + max(t.offset + t.nbytes for t in self.tensors)


class _Reader:
    def __init__(self, f: BinaryIO):
        self.f = f
        self.skipped = 0  # the length of the last array `value` skipped
        self.size = os.fstat(f.fileno()).st_size

    def read(self, n: int) -> bytes:
        if n > 1 << 16 and n > self.size - self.f.tell():  # a damaged length must not make us allocate it
            raise Truncated
        data = self.f.read(n)
        if len(data) != n:
            raise Truncated
        return data

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.read(self.unpack("Q")).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        self.f.seek(n, os.SEEK_CUR)

    def value(self, vtype: int):
        """The value, or None when it was skipped (a long or nested array)."""
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype != 9:
            raise ValueError(f"unknown metadata type {vtype}")
        etype, count = self.unpack("I"), self.unpack("Q")
        if etype in _SCALARS:
            fmt = _SCALARS[etype]
            if count <= SHORT_ARRAY:
                return list(struct.unpack(f"<{count}{fmt}", self.read(struct.calcsize(fmt) * count)))
            self.skip(struct.calcsize(fmt) * count)
            self.skipped = count
        elif etype == 8:
            self.skipped = count
            for _ in range(count):
                self.skip(self.unpack("Q"))
        else:
            raise ValueError(f"array of unknown type {etype}")
        return None


def read_header(f: BinaryIO) -> Header:
    """The header of the GGUF that starts at `f`'s position. Raises Truncated, or ValueError when damaged."""
    start = f.tell()
    r = _Reader(f)
    if r.read(4) != GGUF_MAGIC:
        raise ValueError("it does not start with b'GGUF'")
    version = r.unpack("I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = r.unpack("Q"), r.unpack("Q")
    if n_tensors > 1 << 20 or n_kv > 1 << 20:
        raise ValueError(f"implausible counts ({n_tensors} tensors, {n_kv} metadata keys)")
    metadata: dict[str, object] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = r.string()
        r.skipped = 0
        value = r.value(r.unpack("I"))
        if value is not None:
            metadata[key] = value
        elif r.skipped:
            lengths[key] = r.skipped
    alignment = metadata.get("general.alignment")
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
    tensors = []
    for _ in range(n_tensors):
        r.skip(r.unpack("Q"))  # the tensor's name
        n_dims = r.unpack("I")
        if n_dims > 8:
            raise ValueError(f"tensor with {n_dims} dimensions")
        dims = struct.unpack(f"<{n_dims}Q", r.read(8 * n_dims))
        ttype, offset = r.unpack("I"), r.unpack("Q")
        n = 1
        for d in dims:
            n *= d
        block, size = GGML_TYPES.get(ttype, (1, 0))  # unknown type: only its offset is checked
        tensors.append(Tensor(n, ttype, offset, n // block * size))
    header_end = f.tell() - start
    data_start = (header_end + alignment - 1) // alignment * alignment
    return Header(version, metadata, tuple(tensors), header_end, data_start, lengths)
