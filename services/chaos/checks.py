"""What `aurora chaos` checks once its faults are dealt: the acknowledged decisions against the record, the
record's sequence, every canvas and every viewer against the record.

The agents say which of their decisions came back with a `result` (services/canvas/client.py, AURORA_ACKS_DIR:
one JSON line per decision in `<dir>/<agent>.jsonl`). A decision is *lost* when the record ends before its
result's seq, or when it made events and none of the record's events names it as parent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import redis

from services.recorder import archive


class Acks:
    """The acknowledged decisions the agents wrote, read as they grow."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.entries: list[dict] = []  # each with its `agent`
        self.by_agent: dict[str, int] = {}
        self._read_to: dict[Path, int] = {}
        self.torn = 0  # lines that do not read

    def read(self) -> dict[str, int]:
        """Read what was added since the last call; return each agent's count of acknowledged decisions."""
        for path in sorted(self.folder.glob("*.jsonl")):
            with path.open("rb") as f:
                f.seek(self._read_to.get(path, 0))
                data = f.read()
            complete = data[:data.rfind(b"\n") + 1]  # a line being written is read next time
            self._read_to[path] = self._read_to.get(path, 0) + len(complete)
            for line in complete.splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a line an agent killed mid-write left torn: said in the summary
                    self.torn += 1
                    continue
                self.entries.append({**entry, "agent": path.stem})
                self.by_agent[path.stem] = self.by_agent.get(path.stem, 0) + 1
        return dict(self.by_agent)


@dataclass
class Scan:
    """One pass over the whole record (archive and Redis)."""

    last: int = 0
    events: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (the seq expected, the seq found)
    parents: set[str] = field(default_factory=set)               # the ids of the messages that caused events
    max_pause: float = 0.0  # the longest time between two recorded events in [since, until]


def scan(db: redis.Redis, since: float, until: float) -> Scan:
    out = Scan()
    previous_time = None
    for msg in archive.iter_events(db, 1):
        seq = msg.body["seq"]
        if seq != out.last + 1:
            out.gaps.append((out.last + 1, seq))
        out.last, out.events = seq, out.events + 1
        if msg.parent_id:
            out.parents.add(msg.parent_id)
        if since <= msg.time <= until:
            if previous_time is not None:
                out.max_pause = max(out.max_pause, msg.time - previous_time)
            previous_time = msg.time
    if out.last != archive.last_seq(db):
        out.gaps.append((out.last + 1, archive.last_seq(db)))  # the record says it holds more than it yields
    return out


def lost(acks: list[dict], record: Scan) -> list[dict]:
    """The acknowledged decisions the record does not hold."""
    return [a for a in acks if a["seq"] > record.last or (a["events"] and a["id"] not in record.parents)]


def unequal_canvases(db: redis.Redis, canvases: dict, seq: int) -> list[str]:
    """The agents whose canvas in `canvases` (at `seq`) differs from the record's canvas at `seq`."""
    names = set(canvases) | {a for a in archive.agents(db) if archive.canvas_at(db, a, seq) is not None}
    out = []
    for name in sorted(names):
        recorded = archive.canvas_at(db, name, seq)
        mine = canvases.get(name)
        if recorded is None or mine is None or recorded.digest() != mine.digest():
            out.append(name)
    return out
