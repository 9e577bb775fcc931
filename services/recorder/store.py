"""Writing the record: one batch of events, and all that derives from it, in one Redis transaction.

The layout is services/recorder/STORAGE.md. The recorder keeps a replica of every canvas (to write snapshots)
and the last stored seq; `Store.write` turns a batch into one MULTI/EXEC, so a reader never sees an event
without its derived keys. A write that fails (Redis gone, disk full, a refused command) may or may not have
been applied: the caller calls `Store.reload()` and writes what the record still lacks.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import redis

from proto.canvas import CanvasModel
from proto.envelope import Message
from proto.events import OP_KINDS, apply_event
from services.recorder import archive
from services.recorder.png import canvas_png

LAYOUT = "1"
SNAPSHOT_EVERY = 256  # an agent's events between two snapshots of its canvas


@dataclass(frozen=True)
class Stored:
    seq: int
    envelope: bytes   # the event exactly as the canvas published it
    msg: Message      # the same, decoded


class Store:
    def __init__(self, client: redis.Redis, on_corrupt=None):
        self.r = client
        self.on_corrupt = on_corrupt or (lambda key, entry_id, reason: None)
        self.seq = 0
        self.canvases: dict[str, CanvasModel] = {}
        self.since_snapshot: Counter[str] = Counter()
        self.agents: set[str] = set()

    def reload(self) -> None:
        """Read the last stored seq and rebuild every canvas at it from the record."""
        self.seq = archive.last_seq(self.r)
        self.agents = {a.decode() if isinstance(a, bytes) else a for a in self.r.smembers("aurora:agents")}
        canvases = {}
        for agent in sorted(self.agents):
            canvas = archive.canvas_at(self.r, agent, self.seq, on_corrupt=self.on_corrupt)
            if canvas is not None:
                canvases[agent] = canvas
        self.canvases = canvases
        self.since_snapshot.clear()

    def write(self, batch: list[Stored]) -> int:
        """Store `batch` (consecutive seqs, the first one after `self.seq`); returns the new last seq."""
        assert batch and batch[0].seq == self.seq + 1, "the caller checks for gaps"
        pipe = self.r.pipeline(transaction=True)
        counts: Counter[tuple[str, str]] = Counter()
        for item in batch:
            self._stage(pipe, counts, item)
        for (key, field), n in counts.items():
            pipe.hincrby(key, field, n)
        last = batch[-1].seq
        pipe.hset("aurora:recorder", mapping={"seq": last, "layout": LAYOUT})
        pipe.execute()
        self.seq = last
        return last

    def _stage(self, pipe, counts: Counter, item: Stored) -> None:
        body = item.msg.body
        seq, agent, kind, data = item.seq, body["agent"], body["kind"], body["data"]
        pipe.xadd("aurora:events", {"agent": agent, "kind": kind, "event": item.envelope}, id=f"{seq}-0")
        facts = f"aurora:facts:{agent}"
        if agent not in self.agents:
            self.agents.add(agent)
            pipe.sadd("aurora:agents", agent)
            pipe.hset(facts, "first_seq", seq)
        pipe.hset(facts, "last_seq", seq)
        counts[facts, "events"] += 1
        try:
            apply_event(self.canvases, body)
        except ValueError as exc:  # stored all the same: the record keeps what happened, readers skip it
            self.on_corrupt("aurora:events", f"{seq}-0", f"cannot be applied: {exc}")
        canvas = self.canvases.get(agent)
        if kind in OP_KINDS:
            counts[facts, "ops_applied"] += 1
        if kind == "rejected":
            counts[facts, "ops_rejected"] += 1
        elif kind == "note":
            note = {k: data[k] for k in ("pitch", "midi", "duration", "beats", "velocity", "color", "brush")
                    if k in data}
            x, y = data.get("x"), data.get("y")
            pipe.xadd(f"aurora:notes:{agent}", {**note, "x": x if x is not None else "",
                                                 "y": y if y is not None else "",
                                                 "work": canvas.work if canvas else ""}, id=f"{seq}-0")
            counts[facts, "notes"] += 1
        elif kind == "feel":
            counts[f"aurora:feelings:{agent}", data["feel"]] += 1
            counts[facts, "feelings"] += 1
        elif kind == "done":
            work = data["work"]
            cells = data["cells"]
            pipe.xadd("aurora:works", {"agent": agent, "work": work, "title": data.get("title") or ""},
                      id=f"{seq}-0")
            pipe.hset(f"aurora:work:{agent}:{work}", mapping={
                "agent": agent, "work": work, "title": data.get("title") or "", "done_seq": seq,
                "finished": item.msg.time, "cells": json.dumps(cells), "png": canvas_png(cells)})
            counts[facts, "works"] += 1
        elif kind == "statement":
            pipe.hset(f"aurora:work:{agent}:{data['work']}", mapping={"statement": data["text"],
                                                                      "statement_seq": seq})
        self.since_snapshot[agent] += 1
        if canvas is not None and (kind == "new" or self.since_snapshot[agent] >= SNAPSHOT_EVERY):
            state = canvas.to_dict()
            pipe.xadd(f"aurora:snapshots:{agent}", {"canvas": json.dumps(state), "digest": canvas.digest()},
                      id=f"{seq}-0")
            self.since_snapshot[agent] = 0
