"""Writing the record: one batch of events, and all that derives from it, in one Redis transaction.

The layout is services/recorder/STORAGE.md. The recorder applies no op: the snapshots of canvases it writes
come from the canvas with its batches (PROTOCOL.md section 11), so a batch costs it building the commands
only. `Store.stage` turns a batch into a list of commands, and `Store.run` runs them in one server-side
script (`BATCH_SCRIPT`), so a reader never sees an event without its derived keys. A script is atomic as
MULTI/EXEC is, and it costs one request and one reply for the whole batch where MULTI/EXEC costs a `QUEUED`
reply per command: redis-py's packing and parsing of a command cost more than valkey's running it (measured
with `aurora bench recorder`). A write that fails (Redis gone, disk full, a refused command) may or may not
have been applied: the caller calls `Store.reload()` and writes what the record still lacks.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import redis

from proto.canvas import CanvasModel
from proto.envelope import decode
from proto.canvas import digest_of
from proto.events import BOARD_KINDS, OP_KINDS, rejected_lines
from services.recorder import archive
from services.recorder.png import canvas_png
from services.salon.board import POSTS_KEPT

LAYOUT = "1"

# ARGV[1]: the last seq the record must hold for this batch to follow it (else nothing is written: a batch
# staged after one that failed must not leave a gap); then commands one after the other, each as its argument
# count and then its arguments.
BATCH_SCRIPT = """
local stored = redis.call('HGET', 'aurora:recorder', 'seq') or '0'
if stored ~= ARGV[1] then
  return redis.error_reply('GAP the record holds seq ' .. stored .. ', this batch follows ' .. ARGV[1])
end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return #ARGV
"""


@dataclass(frozen=True)
class Stored:
    """One event of a `record` batch (PROTOCOL.md section 11; proto.events.record_item)."""

    seq: int
    agent: str
    kind: str
    data: dict | None  # for the kinds in proto.events.RECORD_DATA_KINDS, else None
    envelope: bytes    # the event exactly as the canvas published it: stored, never decoded here but for `done`
    snapshots: tuple = ()  # (agent, canvas map) as they were after this event, sent by the canvas with it


class Store:
    """`seq`: the last seq the record is known to hold; `staged`: the last seq turned into commands (a batch
    staged but not yet written is past `seq`, so a batch can be staged while the one before it is being
    written: services/recorder/writer.py)."""

    def __init__(self, client: redis.Redis, on_corrupt=None):
        self.r = client
        self.on_corrupt = on_corrupt or (lambda key, entry_id, reason: None)
        self.seq = self.staged = 0
        self.work: dict[str, int] = {}  # each agent's current work, for its notes
        self.agents: set[str] = set()
        self._script = client.register_script(BATCH_SCRIPT)  # EVALSHA; loaded again where Redis lost it

    def reload(self) -> dict[str, CanvasModel]:
        """Read the last stored seq, and every canvas as it is there (rebuilt from the record); returns them."""
        self.seq = self.staged = archive.last_seq(self.r)
        self.agents = {a.decode() if isinstance(a, bytes) else a for a in self.r.smembers("aurora:agents")}
        canvases = {}
        for agent in sorted(self.agents):
            canvas = archive.canvas_at(self.r, agent, self.seq, on_corrupt=self.on_corrupt)
            if canvas is not None:
                canvases[agent] = canvas
        self.work = {agent: canvas.work for agent, canvas in canvases.items()}
        return canvases

    def run(self, args: list) -> None:
        """Run one staged batch's commands in one atomic script. Raises redis.RedisError."""
        self._script(args=args)

    def stage(self, batch: list[Stored]) -> tuple[int, list]:
        """The commands that store `batch` (consecutive seqs, the first one after `self.staged`), for `run`."""
        assert batch and batch[0].seq == self.staged + 1, "the caller checks for gaps"
        args: list = [self.staged]
        counts: Counter[tuple[str, str]] = Counter()
        last_seen: dict[str, int] = {}
        for item in batch:
            self._stage(args, counts, item)
            last_seen[item.agent] = item.seq
        for (key, field), n in counts.items():
            _command(args, "HINCRBY", key, field, n)
        for agent, seq in last_seen.items():
            _command(args, "HSET", f"aurora:facts:{agent}", "last_seq", seq)
        last = batch[-1].seq
        _command(args, "HSET", "aurora:recorder", "seq", last, "layout", LAYOUT)
        self.staged = last
        return last, args

    def _stage(self, args: list, counts: Counter, item: Stored) -> None:
        seq, agent, kind, data = item.seq, item.agent, item.kind, item.data
        _command(args, "XADD", "aurora:events", f"{seq}-0", "agent", agent, "kind", kind, "event", item.envelope)
        facts = f"aurora:facts:{agent}"
        if agent not in self.agents:
            self.agents.add(agent)
            _command(args, "SADD", "aurora:agents", agent)
            _command(args, "HSET", facts, "first_seq", seq)
        counts[facts, "events"] += 1
        if kind in OP_KINDS:
            counts[facts, "ops_applied"] += 1
        if kind == "rejected":  # one refused line, or the sum of a flood of them (PROTOCOL.md section 5)
            counts[facts, "ops_rejected"] += sum(rejected_lines(data or {}).values())
        elif kind == "note":
            fields = [v for k in NOTE_FIELDS if k in data for v in (k, data[k])]
            _command(args, "XADD", f"aurora:notes:{agent}", f"{seq}-0", *fields,
                     "x", _or_empty(data.get("x")), "y", _or_empty(data.get("y")),
                     "work", self.work.get(agent, ""))
            counts[facts, "notes"] += 1
        elif kind == "feel":
            counts[f"aurora:feelings:{agent}", data["feel"]] += 1
            counts[facts, "feelings"] += 1
        elif kind == "done":
            work = data["work"]
            cells = data["cells"]
            title = data.get("title") or ""
            _command(args, "XADD", "aurora:works", f"{seq}-0", "agent", agent, "work", work, "title", title)
            _command(args, "HSET", f"aurora:work:{agent}:{work}", "agent", agent, "work", work, "title", title,
                     "done_seq", seq, "finished", repr(_time_of(item.envelope)), "cells", json.dumps(cells),
                     "png", canvas_png(cells))
            counts[facts, "works"] += 1
        elif kind == "new":
            self.work[agent] = data["work"]
        elif kind == "statement":
            _command(args, "HSET", f"aurora:work:{agent}:{data['work']}", "statement", data["text"],
                     "statement_seq", seq)
        elif kind in BOARD_KINDS:  # what a restarted canvas's salon starts from (`salon_events`)
            _command(args, "XADD", "aurora:salon", "MAXLEN", "~", SALON_KEPT, f"{seq}-0", "agent", agent, "kind", kind,
                     "data", json.dumps(data))
        for name, canvas in item.snapshots:
            _command(args, "XADD", f"aurora:snapshots:{name}", f"{seq}-0", "canvas", json.dumps(canvas),
                     "digest", digest_of(canvas))

NOTE_FIELDS = ("pitch", "midi", "duration", "beats", "velocity", "color", "brush")
SALON_KEPT = 100_000  # salon events the `aurora:salon` stream keeps (about): what restores can read, bounded
SALON_SCAN = 5_000  # entries read at a time when a restarted canvas's board is gathered


def salon_events(r: redis.Redis, canvases: dict[str, CanvasModel], on_corrupt=None) -> list[list]:
    """The salon as the record holds it, as events [seq, agent, kind, data] in order: what a restarted canvas's
    board starts from (services/salon/board.py). That is each agent's last finished work (the `done` a post takes
    its work from); the latest POSTS_KEPT posts with every reply and reaction to them; and each agent's last
    post, reply and reaction whatever its post (what it has posted, and when it may act again). The newest post
    is always among them, so a post number is never given twice. An entry that cannot be read is reported to
    `on_corrupt(key, entry_id, reason)` and skipped."""
    on_corrupt = on_corrupt or (lambda key, entry_id, reason: None)
    events: list[list] = []
    for agent, canvas in canvases.items():
        if canvas.work > 1:
            key = f"aurora:work:{agent}:{canvas.work - 1}"
            fields = r.hmget(key, "done_seq", "work", "title", "cells")
            if fields[0] is not None:
                try:
                    events.append([int(fields[0]), agent, "done", {
                        "work": int(fields[1]), "title": fields[2].decode() or None, "cells": json.loads(fields[3])}])
                except (TypeError, ValueError, AttributeError) as exc:
                    on_corrupt(key, "", f"its finished work cannot be read: {exc!r}"[:200])
    posts: list[list] = []  # newest first
    answers: list[list] = []
    last: dict[tuple[str, str], list] = {}  # (agent, kind) -> its newest event
    for entry in _newest_first(r, "aurora:salon"):
        try:
            entry_id, fields = entry
            item = [int(entry_id.split(b"-")[0]), fields[b"agent"].decode(), fields[b"kind"].decode(),
                    json.loads(fields[b"data"])]
        except (KeyError, ValueError, AttributeError) as exc:
            on_corrupt("aurora:salon", entry[0].decode(errors="replace"), f"not a salon event: {exc!r}"[:200])
            continue
        last.setdefault((item[1], item[2]), item)
        (posts if item[2] == "post" else answers).append(item)
    kept = posts[:POSTS_KEPT]
    held = {p[3].get("post") for p in kept if isinstance(p[3], dict)}
    chosen = {id(e): e for e in (*kept, *last.values())}
    chosen.update({id(a): a for a in answers if isinstance(a[3], dict) and a[3].get("post") in held})
    events += chosen.values()
    events.sort(key=lambda e: e[0])
    return events


def _newest_first(r: redis.Redis, key: str):
    """The entries of stream `key`, newest first, read SALON_SCAN at a time."""
    end = "+"
    while True:
        batch = r.xrevrange(key, max=end, count=SALON_SCAN)
        yield from batch
        if len(batch) < SALON_SCAN:
            return
        end = "(" + batch[-1][0].decode()


def _command(args: list, *command) -> None:
    """Append one command for BATCH_SCRIPT: its argument count, then the command and its arguments."""
    args.append(len(command))
    args.extend(command)


def _time_of(envelope: bytes) -> float:
    return decode(envelope, limit=len(envelope), accept=frozenset({"event"})).time


def _or_empty(value):
    return "" if value is None else value
