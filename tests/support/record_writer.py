"""RecordWriter: a small, realistic record written with redis-py into a real valkey server, following
services/recorder/STORAGE.md: not by the recorder, so that the readers (replay, export, the report) are
checked against the layout rather than against the writer."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import redis

from proto.canvas import CanvasModel
from proto.envelope import Message, encode
from services.recorder.png import canvas_png

SNAPSHOT_EVERY = 5  # an agent's events between two snapshots: few, so that replays cross several


class RecordWriter:
    """Plays a studio: applies ops to one CanvasModel per agent (the canvas's own rules) and writes every event
    they cause, with its derived keys, as the recorder would. Keeps what a reader should find."""

    def __init__(self, r: redis.Redis):
        self.r = r
        self.seq = 0
        self.canvases: dict[str, CanvasModel] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        self.since_snapshot: dict[str, int] = defaultdict(int)
        self.digests: dict[int, dict[str, str]] = {}  # seq -> agent -> digest of the canvas after that event
        self.ops: dict[str, list[tuple[int, str]]] = defaultdict(list)  # agent -> (seq of its first event, op)
        self.snapshots: dict[str, list[int]] = defaultdict(list)
        self.bodies: dict[int, dict[str, Any]] = {}
        self.works: list[dict[str, Any]] = []
        self.now: float | None = None  # the events' time; None: the clock's
        self.decisions = 0


    def join(self, agent: str, width: int, height: int, model: str | None = None) -> None:
        self.event(agent, "joined", {"model": model})
        self.canvases[agent] = CanvasModel(width, height)
        self.sizes[agent] = (width, height)
        self.event(agent, "new", {"work": 1, "width": width, "height": height})

    def op(self, agent: str, text: str, decision: str | None = None) -> None:
        events = self.canvases[agent].apply_text(text)
        self.ops[agent].append((self.seq + 1, text))
        for kind, data in events:
            self.event(agent, kind, data, parent_id=decision)

    def decide(self, agent: str, lines: list[str], refused: list[str] = ()) -> str:
        """One decision: its ops applied and its `refused` lines rejected, every event with the decision's id."""
        self.decisions += 1
        decision = f"decision-{self.decisions}"
        for text in lines:
            self.op(agent, text, decision)
        for text in refused:
            self.event(agent, "rejected", {"text": text, "code": "unknown_op", "reason": "no such op"},
                       parent_id=decision)
        return decision

    def event(self, agent: str, kind: str, data: dict[str, Any], parent_id: str | None = None) -> int:
        self.seq += 1
        seq = self.seq
        self.bodies[seq] = {"seq": seq, "agent": agent, "kind": kind, "data": data}
        msg = Message("event", self.bodies[seq], "canvas", parent_id=parent_id)
        if self.now is not None:
            msg.time = self.now
        envelope = encode(msg)  # proto.topics.encode_event's second frame
        pipe = self.r.pipeline(transaction=True)
        pipe.xadd("aurora:events", {"agent": agent, "kind": kind, "event": envelope}, id=f"{seq}-0")
        pipe.sadd("aurora:agents", agent)
        if kind == "done":
            work = {"agent": agent, "work": data["work"], "title": data["title"] or "", "done_seq": seq,
                    "finished": 1_700_000_000.0 + seq, "cells": json.dumps(data["cells"]),
                    "png": canvas_png(data["cells"])}
            pipe.xadd("aurora:works", {"agent": agent, "work": data["work"], "title": work["title"]}, id=f"{seq}-0")
            pipe.hset(f"aurora:work:{agent}:{data['work']}", mapping=work)
            self.works.append({**work, "cells": data["cells"], "title": data["title"]})
        elif kind == "statement":
            pipe.hset(f"aurora:work:{agent}:{data['work']}", mapping={"statement": data["text"], "statement_seq": seq})
        self.since_snapshot[agent] += 1
        canvas = self.canvases.get(agent)
        if canvas is not None and (kind == "new" or self.since_snapshot[agent] >= SNAPSHOT_EVERY):
            pipe.xadd(f"aurora:snapshots:{agent}", {"canvas": json.dumps(canvas.to_dict()), "digest": canvas.digest()},
                      id=f"{seq}-0")
            self.since_snapshot[agent] = 0
            self.snapshots[agent].append(seq)
        pipe.hset("aurora:recorder", mapping={"seq": seq, "layout": "1"})
        pipe.execute()
        self.digests[seq] = {name: c.digest() for name, c in self.canvases.items()}
        return seq

    def canvas_of_ops(self, agent: str, upto: int, skip: int | None = None) -> CanvasModel:
        """The agent's canvas built straight from its ops up to seq `upto`, leaving out the op at seq `skip`."""
        canvas = CanvasModel(*self.sizes[agent])
        for seq, text in self.ops[agent]:
            if seq <= upto and seq != skip:
                canvas.apply_text(text)
        return canvas


class ClockedWriter(RecordWriter):
    """A RecordWriter whose event `seq` happens at `t0` + seq seconds."""

    def __init__(self, r: redis.Redis, t0: float):
        self.t0 = t0
        super().__init__(r)

    @property
    def now(self) -> float:
        return self.t0 + self.seq

    @now.setter
    def now(self, value) -> None:
        pass  # the clock is the seq's


ADA = ["color red", "pen down", "move right 3", "brush cross", "move down 2", "note C4 quarter 80", "feel calm",
       "pen up", "move left 4", "color blue", "pen down", "move up-left 2", "tempo 132", "rest half", "brush square",
       "move down-right 3", "title Tide", "done",
       "color green", "pen down", "move left 5", "brush circle", "move up 3", "note Eb5 eighth 60", "pen up",
       "move right 2", "color yellow", "pen down", "move down 1", "title Low Sun", "done",
       "color magenta", "pen down", "move up-right 4", "feel bold", "move left 2"]
BO = ["color teal", "brush square", "pen down", "move down 2", "pen up", "move right 3", "pen down",
      "move left 1", "color orange", "move up 1", "done", "pen down", "move right 2", "brush dot", "move down 2"]


def write_record(r: redis.Redis, w: RecordWriter | None = None) -> RecordWriter:
    """Two agents, interleaved: ada from the start (12x8), bo joining later (10x6); a status and a `rejected`
    event (kinds that change no canvas), three finished works, one with a statement, one untitled. Into `w`,
    a RecordWriter of `r`, if given."""
    w = w or RecordWriter(r)
    w.join("ada", 12, 8)
    w.event("ada", "status", {"activity": "thinking", "until": None, "reason": None})
    for text in ADA[:6]:
        w.op("ada", text)
    w.join("bo", 10, 6)
    for i, text in enumerate(ADA[6:]):
        w.op("ada", text)
        if i < len(BO):
            w.op("bo", BO[i])
        if i == 4:
            w.event("bo", "rejected", {"text": "move sideways", "code": "unknown_op", "reason": "no such op"})
        if text == "title Low Sun":
            w.event("ada", "statement", {"work": 1, "text": "The tide comes in red and blue."})
    return w


def replace_entry(r: redis.Redis, key: str, entry_id: str, fields: dict) -> None:
    """Rewrite stream `key` with the entry `entry_id` holding `fields` instead (streams cannot be edited)."""
    entries = r.xrange(key)
    assert entry_id.encode() in [i for i, _ in entries], f"{key} has no entry {entry_id}"
    r.delete(key)
    for i, old in entries:
        r.xadd(key, fields if i == entry_id.encode() else old, id=i)
