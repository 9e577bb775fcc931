"""Reading the record (services/recorder/STORAGE.md, layout 1): its events, any agent's canvas at any seq, and
the gallery of finished works. The read side of `aurora replay`, `aurora export` and the study.

Events older than the retention window live in archive segments (services/recorder/segments.py), in the folder
that `aurora:recorder.archive_dir` names, and Redis holds those after `aurora:recorder.archived`: the readers
here take both, each seq once, as one record. A trim that happens while one reads is noticed (the archived seq
moved) and the read goes on from the archive.

Every function takes a redis-py client that returns bytes (`decode_responses=False`: events are msgpack, PNGs
binary). A reader never stops at an entry it cannot decode: it reports the key and ID to `on_corrupt(key,
entry_id, reason)` (by default a logged warning) and goes on without it.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import redis

from proto.canvas import CanvasModel
from proto.envelope import Message, decode
from proto.errors import ProtocolError
from proto.events import apply_event
from services.base.redis_server import save_users
from services.recorder import segments

log = logging.getLogger("aurora.archive")

LAYOUT = "1"
EVENTS = "aurora:events"
WORKS = "aurora:works"
AGENTS = "aurora:agents"
RECORDER = "aurora:recorder"
PAGE = 1000  # stream entries read per XRANGE
FRAME_LIMIT = 1 << 24  # an event as the canvas published it is far smaller; this only bounds a corrupt one

OnCorrupt = Callable[[str, str, str], None]


READER = "record-reader"
READER_COMMANDS = ("ping", "select", "hello", "client|setinfo", "@read")


def grant_reader(admin: redis.Redis) -> str:
    """Create or reset the read-only ACL user of the record (the gateway's); return its fresh password. It can
    read the `aurora:*` keys and nothing else: neither write them nor see an agent's memory bank."""
    password = secrets.token_urlsafe(32)
    admin.execute_command("ACL", "SETUSER", READER, "reset", "on", f">{password}", "~aurora:*", "resetchannels",
                          *(f"+{c}" for c in READER_COMMANDS))
    admin.client_kill_filter(user=READER)  # a connection made with the old password loses its access now
    save_users(admin)  # it outlives a restart of Redis: the gateway keeps reading the record
    return password


def snapshots_key(agent: str) -> str:
    return f"aurora:snapshots:{agent}"


def anchor_key(agent: str) -> str:
    """The agent's canvas at the archived seq (fields `seq`, `canvas`, `digest`): what its later events apply
    to once its snapshots before that seq are archived."""
    return f"aurora:anchor:{agent}"


def work_key(agent: str, work: int | str) -> str:
    return f"aurora:work:{agent}:{work}"


def log_corrupt(key: str, entry_id: str, reason: str) -> None:
    log.warning("corrupt entry skipped", extra={"fields": {"key": key, "id": entry_id, "reason": reason}})


class Corrupt(ValueError):
    """An entry that does not decode; its message is the reason."""


# -- the record as a whole ----------------------------------------------------------------------------------


def last_seq(r: redis.Redis) -> int:
    """The seq of the last stored event (`aurora:recorder.seq`); 0 for no record."""
    seq = r.hget(RECORDER, "seq")
    return int(seq) if seq is not None else 0


def archived(r: redis.Redis) -> tuple[int, Path | None]:
    """(the last seq moved to the archive and trimmed from Redis, 0 for none; the archive's folder)."""
    seq, folder = r.hmget(RECORDER, ("archived", "archive_dir"))
    return int(seq or 0), Path(folder.decode()) if folder else None


def layout(r: redis.Redis) -> str | None:
    value = r.hget(RECORDER, "layout")
    return value.decode() if value is not None else None


def agents(r: redis.Redis) -> list[str]:
    return sorted(name.decode() for name in r.smembers(AGENTS))


# -- events -------------------------------------------------------------------------------------------------


def iter_events(r: redis.Redis, start: int = 1, end: int | None = None, *,
                on_corrupt: OnCorrupt = log_corrupt) -> Iterator[Message]:
    """The events with seq in start..end (end None: to the last), in order, as checked `event` messages, from
    the archive and Redis."""
    for where, entry_id, fields in _event_entries(r, start, end, on_corrupt):
        try:
            yield _event(entry_id, fields)
        except Corrupt as exc:
            on_corrupt(where, entry_id, str(exc))


def _event_entries(r: redis.Redis, start: int, end: int | None,
                   on_corrupt: OnCorrupt) -> Iterator[tuple[str, str, dict[bytes, bytes]]]:
    """(where, ID, fields) of the events with seq in start..end, in order, each seq once: from the archive's
    segments up to the archived seq, then from `aurora:events` (where a crash between writing a segment and
    trimming behind it leaves both holding some events)."""
    nxt = start
    while end is None or nxt <= end:
        cut, folder = archived(r)
        if nxt <= cut:
            high = cut if end is None else min(cut, end)
            for where, seq, fields in _archived_entries(folder, nxt, high, on_corrupt):
                yield where, f"{seq}-0", fields
            nxt = high + 1
            continue
        for entry_id, fields in stream_entries(r, EVENTS, nxt, end):
            seq = seq_of(entry_id)
            if seq > nxt and archived(r)[0] >= nxt:
                break  # trimmed behind a new segment while we read: those events are in the archive now
            yield EVENTS, entry_id, fields
            nxt = seq + 1
        else:
            return


def _archived_entries(folder: Path | None, low: int, high: int,
                      on_corrupt: OnCorrupt) -> Iterator[tuple[str, int, dict[bytes, bytes]]]:
    """(segment path, seq, fields as in aurora:events) of the archived events low..high; a segment that is
    missing or does not read is reported, and its events are left out."""
    nxt = low
    for found in segments.listing(folder) if folder is not None else []:
        if found.last < nxt or found.first > high:
            continue
        if found.first > nxt:
            _missing(folder, nxt, found.first - 1, on_corrupt)
        segment = _segment(found.path, on_corrupt)
        if segment is None:
            nxt = found.last + 1
            continue
        for item in segment.events:
            try:
                seq, agent, kind, envelope = item
                if seq < nxt or seq > high:
                    continue
                fields = {b"agent": agent.encode(), b"kind": kind.encode(), b"event": envelope}
            except (TypeError, ValueError, AttributeError):
                on_corrupt(str(found.path), "event", "an entry is not [seq, agent, kind, envelope]")
                continue
            yield str(found.path), seq, fields
            nxt = seq + 1
    if nxt <= high:
        _missing(folder, nxt, high, on_corrupt)


def _missing(folder: Path | None, low: int, high: int, on_corrupt: OnCorrupt) -> None:
    on_corrupt(str(folder), f"{low}-{high}", "no archive segment holds these events (moved or deleted?)")


def _segment(path: Path, on_corrupt: OnCorrupt) -> segments.Segment | None:
    try:
        return segments.read(path)
    except segments.SegmentCorrupt as exc:
        on_corrupt(str(path), "segment", f"{exc}; its events are left out")
        return None


def stream_entries(r: redis.Redis, key: str, start: int, end: int | None) -> Iterator[tuple[str, dict[bytes, bytes]]]:
    """(ID, fields) of the entries of stream `key` whose seq (the ID's first part) is in start..end, in pages."""
    low, high = str(start), "+" if end is None else str(end)
    while True:
        page = r.xrange(key, min=low, max=high, count=PAGE)
        for entry_id, fields in page:
            yield entry_id.decode(), fields
        if len(page) < PAGE:
            return
        low = "(" + page[-1][0].decode()


def seq_of(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _event(entry_id: str, fields: dict[bytes, bytes]) -> Message:
    frame = fields.get(b"event")
    if frame is None:
        raise Corrupt("no `event` field")
    try:
        msg = decode(frame, limit=FRAME_LIMIT, accept=frozenset({"event"}))
    except ProtocolError as exc:
        raise Corrupt(f"the event does not decode: {exc}") from None
    if msg.body["seq"] != seq_of(entry_id):
        raise Corrupt(f"the event's seq {msg.body['seq']} is not its ID's")
    return msg


# -- canvases -----------------------------------------------------------------------------------------------


def canvas_at(r: redis.Redis, agent: str, seq: int, *, on_corrupt: OnCorrupt = log_corrupt) -> CanvasModel | None:
    """`agent`'s canvas as it was after event `seq`; None if the agent had none then.

    From the agent's last snapshot (or anchor, or the base of an archive segment) at or before `seq` (a corrupt
    one is reported and the one before it tried; with none usable, from the agent's first `new` event), applying
    the agent's events after it up to `seq`. An event that cannot be applied is reported and leaves the canvas
    as it was. A seq older than the archived one is rebuilt from the one archive segment that holds it.
    """
    while True:
        cut, folder = archived(r)
        if seq < cut:
            return _canvas_in_archive(folder, agent, seq, on_corrupt)
        base = _last_snapshot(r, agent, seq, on_corrupt)
        anchor = _anchor(r, agent, seq, on_corrupt) if cut else None
        if anchor is not None and (base is None or anchor[0] > base[0]):
            base = anchor
        after = base[0] if base is not None else 0
        entries = ((EVENTS, entry_id, fields) for entry_id, fields in stream_entries(r, EVENTS, after + 1, seq))
        canvas = _rebuild(agent, base, entries, on_corrupt)
        if archived(r)[0] == cut:
            return canvas
        # trimmed while we read: the base or events we read may be gone; read again from what is there now


def _canvas_in_archive(folder: Path | None, agent: str, seq: int, on_corrupt: OnCorrupt) -> CanvasModel | None:
    holding = [f for f in (segments.listing(folder) if folder is not None else []) if f.first <= seq <= f.last]
    if not holding:
        _missing(folder, seq, seq, on_corrupt)
        return None
    segment = _segment(holding[0].path, on_corrupt)
    if segment is None:
        return None
    where = str(holding[0].path)
    base = None
    if agent in segment.bases:
        try:
            base = segment.first - 1, CanvasModel.from_dict(segment.bases[agent])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            on_corrupt(where, f"base {agent}", f"the canvas does not validate: {exc!r}"[:300])
    for snap_seq, name, canvas, digest in segment.snapshots:
        if name == agent and snap_seq <= seq and (base is None or snap_seq > base[0]):
            try:
                base = snap_seq, _snapshot({b"canvas": canvas.encode(), b"digest": digest.encode()})
            except Corrupt as exc:
                on_corrupt(where, f"{snap_seq}-0", f"{exc}; trying the snapshot before it")
    after = base[0] if base is not None else 0
    entries = ((where, f"{at}-0", {b"agent": name.encode(), b"kind": kind.encode(), b"event": envelope})
               for at, name, kind, envelope in segment.events if name == agent and after < at <= seq)
    return _rebuild(agent, base, entries, on_corrupt)


def _rebuild(agent: str, base: tuple[int, CanvasModel] | None, entries, on_corrupt: OnCorrupt) -> CanvasModel | None:
    """The agent's canvas: `base` (seq, canvas) or none, with the agent's events among `entries` applied."""
    canvases: dict[str, CanvasModel] = {}
    if base is not None:
        canvases[agent] = base[1]
    name = agent.encode()
    for where, entry_id, fields in entries:
        if fields.get(b"agent", name) != name:
            continue  # another agent's: the `agent` field repeats the body's so that we need not decode it
        try:
            body = _event(entry_id, fields).body
        except Corrupt as exc:
            on_corrupt(where, entry_id, f"{exc}; {agent}'s canvas goes on without it")
            continue
        if body["agent"] != agent:
            continue
        try:
            apply_event(canvases, body)
        except ValueError as exc:
            on_corrupt(where, entry_id, f"seq {body['seq']} could not be applied to {agent}'s canvas: {exc}")
    return canvases.get(agent)


def _anchor(r: redis.Redis, agent: str, seq: int, on_corrupt: OnCorrupt) -> tuple[int, CanvasModel] | None:
    fields = r.hgetall(anchor_key(agent))
    if not fields:
        return None
    try:
        at = int(fields[b"seq"])
        return (at, _snapshot(fields)) if at <= seq else None
    except (KeyError, ValueError, Corrupt) as exc:
        on_corrupt(anchor_key(agent), "anchor", f"{exc}; its canvas is rebuilt without it")
        return None


def _last_snapshot(r: redis.Redis, agent: str, seq: int, on_corrupt: OnCorrupt) -> tuple[int, CanvasModel] | None:
    key, high = snapshots_key(agent), str(seq)
    while entries := r.xrevrange(key, max=high, min="-", count=1):
        entry_id, fields = entries[0][0].decode(), entries[0][1]
        try:
            return seq_of(entry_id), _snapshot(fields)
        except Corrupt as exc:
            on_corrupt(key, entry_id, f"{exc}; trying the snapshot before it")
            high = "(" + entry_id
    return None


def _snapshot(fields: dict[bytes, bytes]) -> CanvasModel:
    if b"canvas" not in fields or b"digest" not in fields:
        raise Corrupt("a snapshot needs `canvas` and `digest` fields")
    try:
        canvas = CanvasModel.from_dict(json.loads(fields[b"canvas"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # JSON errors are ValueErrors
        raise Corrupt(f"the canvas does not validate: {exc!r}"[:300]) from None
    if canvas.digest() != fields[b"digest"].decode(errors="replace"):
        raise Corrupt("the canvas does not match its digest")
    return canvas


# -- works --------------------------------------------------------------------------------------------------


def works(r: redis.Redis, *, on_corrupt: OnCorrupt = log_corrupt) -> list[dict[str, Any]]:
    """The gallery: every finished work in the order finished, as a dict of its `aurora:work:<agent>:<work>`
    hash (agent, work, title, done_seq, finished, cells, png, statement, statement_seq), numbers and JSON
    decoded, `png` bytes (None if missing), `title`, `statement` and `statement_seq` None when absent."""
    gallery = []
    for entry_id, fields in stream_entries(r, WORKS, 1, None):
        try:
            key = work_key(fields[b"agent"].decode(), fields[b"work"].decode())
        except (KeyError, UnicodeDecodeError):
            on_corrupt(WORKS, entry_id, "no `agent` or `work` field")
            continue
        try:
            gallery.append(_work(r.hgetall(key)))
        except (KeyError, TypeError, ValueError) as exc:
            on_corrupt(WORKS, entry_id, f"{key} does not decode: {exc!r}"[:300])
    return gallery


def _work(h: dict[bytes, bytes]) -> dict[str, Any]:
    if not h:
        raise KeyError("no such hash")
    cells = json.loads(h[b"cells"])
    if not isinstance(cells, list) or not all(isinstance(row, str) for row in cells):
        raise ValueError("cells is no list of rows")
    statement_seq = h.get(b"statement_seq")
    return {
        "agent": h[b"agent"].decode(),
        "work": int(h[b"work"]),
        "title": _text(h.get(b"title")),
        "done_seq": int(h[b"done_seq"]),
        "finished": float(h[b"finished"]),
        "cells": cells,
        "png": h.get(b"png"),
        "statement": _text(h.get(b"statement")),
        "statement_seq": int(statement_seq) if statement_seq else None,
    }


def _text(value: bytes | None) -> str | None:
    return value.decode() if value else None
