"""Reading the record in Redis (services/recorder/STORAGE.md, layout 1): its events, any agent's canvas at
any seq, and the gallery of finished works. The read side of `aurora replay`, `aurora export` and the study.

Every function takes a redis-py client that returns bytes (`decode_responses=False`: events are msgpack, PNGs
binary). A reader never stops at an entry it cannot decode: it reports the key and ID to `on_corrupt(key,
entry_id, reason)` (by default a logged warning) and goes on without it.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any, Callable, Iterator

import redis

from proto.canvas import CanvasModel
from proto.envelope import Message, decode
from proto.errors import ProtocolError
from proto.events import apply_event

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
    return password


def snapshots_key(agent: str) -> str:
    return f"aurora:snapshots:{agent}"


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


def layout(r: redis.Redis) -> str | None:
    value = r.hget(RECORDER, "layout")
    return value.decode() if value is not None else None


def agents(r: redis.Redis) -> list[str]:
    return sorted(name.decode() for name in r.smembers(AGENTS))


# -- events -------------------------------------------------------------------------------------------------


def iter_events(r: redis.Redis, start: int = 1, end: int | None = None, *,
                on_corrupt: OnCorrupt = log_corrupt) -> Iterator[Message]:
    """The events with seq in start..end (end None: to the last), in order, as checked `event` messages."""
    for entry_id, fields in _entries(r, EVENTS, start, end):
        try:
            yield _event(entry_id, fields)
        except Corrupt as exc:
            on_corrupt(EVENTS, entry_id, str(exc))


def _entries(r: redis.Redis, key: str, start: int, end: int | None) -> Iterator[tuple[str, dict[bytes, bytes]]]:
    """(ID, fields) of the entries of stream `key` whose seq (the ID's first part) is in start..end, in pages."""
    low, high = str(start), "+" if end is None else str(end)
    while True:
        page = r.xrange(key, min=low, max=high, count=PAGE)
        for entry_id, fields in page:
            yield entry_id.decode(), fields
        if len(page) < PAGE:
            return
        low = "(" + page[-1][0].decode()


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _event(entry_id: str, fields: dict[bytes, bytes]) -> Message:
    frame = fields.get(b"event")
    if frame is None:
        raise Corrupt("no `event` field")
    try:
        msg = decode(frame, limit=FRAME_LIMIT, accept=frozenset({"event"}))
    except ProtocolError as exc:
        raise Corrupt(f"the event does not decode: {exc}") from None
    if msg.body["seq"] != _seq(entry_id):
        raise Corrupt(f"the event's seq {msg.body['seq']} is not its ID's")
    return msg


# -- canvases -----------------------------------------------------------------------------------------------


def canvas_at(r: redis.Redis, agent: str, seq: int, *, on_corrupt: OnCorrupt = log_corrupt) -> CanvasModel | None:
    """`agent`'s canvas as it was after event `seq`; None if the agent had none then.

    From the agent's last snapshot at or before `seq` (a corrupt one is reported and the one before it tried;
    with none usable, from the agent's first `new` event), applying the agent's events after it up to `seq`.
    An event that cannot be applied is reported and leaves the canvas as it was.
    """
    canvases: dict[str, CanvasModel] = {}
    after = 0
    snapshot = _last_snapshot(r, agent, seq, on_corrupt)
    if snapshot is not None:
        after, canvases[agent] = snapshot
    name = agent.encode()
    for entry_id, fields in _entries(r, EVENTS, after + 1, seq):
        if fields.get(b"agent", name) != name:
            continue  # another agent's: the `agent` field repeats the body's so that we need not decode it
        try:
            body = _event(entry_id, fields).body
        except Corrupt as exc:
            on_corrupt(EVENTS, entry_id, f"{exc}; {agent}'s canvas goes on without it")
            continue
        if body["agent"] != agent:
            continue
        try:
            apply_event(canvases, body)
        except ValueError as exc:
            on_corrupt(EVENTS, entry_id, f"seq {body['seq']} could not be applied to {agent}'s canvas: {exc}")
    return canvases.get(agent)


def _last_snapshot(r: redis.Redis, agent: str, seq: int, on_corrupt: OnCorrupt) -> tuple[int, CanvasModel] | None:
    key, high = snapshots_key(agent), str(seq)
    while entries := r.xrevrange(key, max=high, min="-", count=1):
        entry_id, fields = entries[0][0].decode(), entries[0][1]
        try:
            return _seq(entry_id), _snapshot(fields)
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
    for entry_id, fields in _entries(r, WORKS, 1, None):
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
