"""Archive segments: the record's old events, moved out of Redis into compressed files (services/recorder/
retention.py moves them; services/recorder/archive.py reads them together with what Redis still holds).

A segment is one file, written once and never changed, named `events-<first>-<last>.seg` (seqs in 12 digits,
so that names sort in seq order). It holds every event with seq first..last, the snapshots the canvas sent in
that range, and each agent's canvas as it was after event first-1 (its base), so that one segment alone
rebuilds any canvas at any of its seqs. Layout (STORAGE.md, "Archive"):

    AURORA-SEGMENT 1\\n
    {"first": .., "last": .., "events": .., "snapshots": .., "sha256": <hex digest of the body>}\\n
    body: zlib-compressed msgpack [bases, events, snapshots]

A segment is written to a `.part` file, fsynced, renamed into place and its folder fsynced: only then is
Redis trimmed behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

MAGIC = b"AURORA-SEGMENT 1\n"
NAME = re.compile(r"events-(\d{12})-(\d{12})\.seg")
HEADER_LIMIT = 4096
BODY_LIMIT = 1 << 30  # a segment's body, uncompressed: far above any N events; bounds a corrupt file


class SegmentCorrupt(ValueError):
    """A segment that cannot be read (missing, truncated, its checksum wrong); the message says which."""


@dataclass
class Segment:
    first: int
    last: int
    bases: dict = field(default_factory=dict)      # agent -> canvas map (CanvasModel.to_dict) after event first-1
    events: list = field(default_factory=list)     # [seq, agent, kind, envelope bytes], in seq order
    snapshots: list = field(default_factory=list)  # [seq, agent, canvas JSON, digest], as in aurora:snapshots:*


@dataclass(frozen=True, order=True)
class SegmentFile:
    first: int
    last: int
    path: Path


def file_name(first: int, last: int) -> str:
    return f"events-{first:012d}-{last:012d}.seg"


def listing(folder: Path) -> list[SegmentFile]:
    """The segments in `folder`, in seq order ([] for no folder); files of any other name are left alone."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if m := NAME.fullmatch(name):
            found.append(SegmentFile(int(m.group(1)), int(m.group(2)), Path(folder) / name))
    return sorted(found)


def write(folder: Path, segment: Segment) -> Path:
    """Write `segment` durably (fsync of the file and of the folder) and return its path."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = zlib.compress(msgpack.packb([segment.bases, segment.events, segment.snapshots], use_bin_type=True), 6)
    header = {"first": segment.first, "last": segment.last, "events": len(segment.events),
              "snapshots": len(segment.snapshots), "sha256": hashlib.sha256(body).hexdigest()}
    path = folder / file_name(segment.first, segment.last)
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(MAGIC + json.dumps(header).encode() + b"\n" + body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, path)
    _fsync_folder(folder)
    return path


def read(path: Path) -> Segment:
    """The segment in `path`, checked against its header and checksum. Raises SegmentCorrupt."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SegmentCorrupt(f"cannot read it: {exc}") from None
    if not data.startswith(MAGIC):
        raise SegmentCorrupt("not an Aurora archive segment (layout 1)")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + HEADER_LIMIT)
    try:
        header = json.loads(data[len(MAGIC):end])
        first, last, sha = int(header["first"]), int(header["last"]), str(header["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SegmentCorrupt(f"its header does not decode: {exc!r}"[:300]) from None
    body = data[end + 1:]
    if end < 0 or hashlib.sha256(body).hexdigest() != sha:
        raise SegmentCorrupt("its checksum does not match (a truncated or altered file)")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(body, BODY_LIMIT)
        bases, events, snapshots = msgpack.unpackb(raw, raw=False)
    except (zlib.error, ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SegmentCorrupt(f"its body does not decode: {exc!r}"[:300]) from None
    if not (isinstance(bases, dict) and isinstance(events, list) and isinstance(snapshots, list)):
        raise SegmentCorrupt("its body is not [bases, events, snapshots]")
    return Segment(first, last, bases, events, snapshots)


def _fsync_folder(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder's entry is on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
