"""The retention policy: events older than a window move from Redis to archive segments, and Redis is trimmed
behind them (STORAGE.md, "Archive"), so that the record in memory stays bounded in a studio that runs for weeks.

A pass takes the events after the archived seq, oldest first, whose time is older than the window, and makes a
segment of them once it is closed: `events` of them, or all of one `span` (an hour by default) whose end has
passed the window. Each segment is written and fsynced (services/recorder/segments.py) before one script
trims Redis behind it: a crash between the two leaves the same events in both, which readers take once (by
seq), never a gap. The same script keeps each agent's canvas at the new archived seq (its anchor), so the
canvases at every seq Redis still holds are rebuilt from Redis alone, and drops the snapshots and notes before
it (the segment holds their events; a note's count stays in the agent's facts). The gallery, feelings and
facts stay in Redis.

It runs in the recorder, on a thread of its own with its own Redis connection (`RetentionThread`): the only
writer of the record stays the recorder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from proto.envelope import decode
from proto.errors import ProtocolError
from services.base.log import event
from services.recorder import archive, segments

log = logging.getLogger("aurora.recorder.retention")

# ARGV: the archived seq the record must hold now, the new one, the archive's folder, then for each agent its
# name, its canvas at the new archived seq and that canvas's digest ("" and "" for an agent with none then).
# The events go first: XTRIM frees memory, and a script's first write decides whether a full Redis (maxmemory,
# noeviction) takes it, so a full Redis can still be trimmed.
TRIM_SCRIPT = """
local stored = redis.call('HGET', 'aurora:recorder', 'archived') or '0'
if stored ~= ARGV[1] then
  return redis.error_reply('MOVED the record is archived up to ' .. stored .. ', not ' .. ARGV[1])
end
local keep = tostring(tonumber(ARGV[2]) + 1)
redis.call('XTRIM', 'aurora:events', 'MINID', keep)
local i = 4
while i <= #ARGV do
  local agent = ARGV[i]
  if ARGV[i + 1] ~= '' then
    redis.call('HSET', 'aurora:anchor:' .. agent, 'seq', ARGV[2], 'canvas', ARGV[i + 1], 'digest', ARGV[i + 2])
  end
  redis.call('XTRIM', 'aurora:snapshots:' .. agent, 'MINID', keep)
  redis.call('XTRIM', 'aurora:notes:' .. agent, 'MINID', keep)
  i = i + 3
end
redis.call('HSET', 'aurora:recorder', 'archived', ARGV[2], 'archive_dir', ARGV[3])
return ARGV[2]
"""


@dataclass(frozen=True)
class Policy:
    window: float = 86_400.0  # seconds an event stays in Redis after it happened
    span: float = 3_600.0     # seconds of events a segment holds at most (segments start on its multiples)
    events: int = 10_000      # events a segment holds at most
    every: float = 60.0       # seconds between passes


class Retention:
    """One pass at a time (`run`); `r` is its own client (bytes)."""

    def __init__(self, r: redis.Redis, folder: Path, policy: Policy, *, clock=time.time,
                 on_corrupt: archive.OnCorrupt = archive.log_corrupt):
        self.r, self.folder, self.policy, self.clock = r, Path(folder).resolve(), policy, clock
        self.on_corrupt = on_corrupt
        self._trim = r.register_script(TRIM_SCRIPT)

    def run(self) -> int:
        """Archive every closed segment's worth of old events; return how many events were moved."""
        moved = self._finish_interrupted()
        while (segment := self._next_segment()) is not None:
            segments.write(self.folder, segment)
            self._trim_behind(segment.last, segment.first - 1)
            moved += len(segment.events)
            event(log, logging.INFO, "events archived", first=segment.first, last=segment.last,
                  events=len(segment.events))
        return moved

    def _finish_interrupted(self) -> int:
        """A segment on disk past the archived seq (a crash came between its fsync and the trim): trim now."""
        cut, _ = archive.archived(self.r)
        last = max((f for f in segments.listing(self.folder) if f.first == cut + 1), default=None)
        if last is None:
            return 0
        try:
            segments.read(last.path)
        except segments.SegmentCorrupt as exc:  # set aside (kept to look at), and written again by this pass
            aside = last.path.with_name(last.path.name + ".corrupt")
            os.replace(last.path, aside)
            event(log, logging.WARNING, "an archive segment that Redis is not yet trimmed behind does not read; "
                  "it is set aside and written again from Redis", path=str(aside), reason=str(exc))
            return 0
        self._trim_behind(last.last, cut)
        return last.last - cut

    def _next_segment(self) -> segments.Segment | None:
        """The next closed segment after the archived seq, or None while there is none yet."""
        cut, _ = archive.archived(self.r)
        stored = archive.last_seq(self.r)
        cutoff = self.clock() - self.policy.window
        events, span_end = [], None
        for entry_id, fields in archive.stream_entries(self.r, archive.EVENTS, cut + 1, stored):
            seq = archive.seq_of(entry_id)
            if seq != cut + 1 + len(events):
                raise RuntimeError(f"the record has no event {cut + 1 + len(events)}: not archiving past a gap")
            when = self._time(entry_id, fields)
            if span_end is None:
                span_end = (when // self.policy.span + 1) * self.policy.span
            if when >= span_end:
                break  # the next event opens another span: this one is closed
            if when >= cutoff:
                return None  # the span's later events are still in the window: it is not closed yet
            events.append([seq, fields.get(b"agent", b"").decode(errors="replace"),
                           fields.get(b"kind", b"").decode(errors="replace"), fields.get(b"event", b"")])
            if len(events) == self.policy.events:
                break
        else:  # no later event closes the span: it is closed once all of it is out of the window
            if span_end is None or span_end > cutoff:
                return None
        if not events:
            return None
        first, last = cut + 1, events[-1][0]
        return segments.Segment(first, last, self._anchors(cut), events, self._snapshots(first, last))

    def _time(self, entry_id: str, fields: dict[bytes, bytes]) -> float:
        """The event's time; one that does not decode is archived with the one before it (never lost here)."""
        try:
            frame = fields[b"event"]
            return decode(frame, limit=archive.FRAME_LIMIT, accept=frozenset({"event"})).time
        except (KeyError, ProtocolError) as exc:
            self.on_corrupt(archive.EVENTS, entry_id, f"no time to archive it by ({exc}); archived as it is")
            return -1.0

    def _anchors(self, cut: int) -> dict:
        """Each agent's canvas after event `cut` (a new segment's bases): its anchor in Redis."""
        if cut == 0:
            return {}
        bases = {}
        for agent in archive.agents(self.r):
            canvas = archive.canvas_at(self.r, agent, cut, on_corrupt=self.on_corrupt)
            if canvas is not None:
                bases[agent] = canvas.to_dict()
        return bases

    def _snapshots(self, first: int, last: int) -> list:
        found = []
        for agent in archive.agents(self.r):
            for entry_id, fields in archive.stream_entries(self.r, archive.snapshots_key(agent), first, last):
                found.append([archive.seq_of(entry_id), agent, fields.get(b"canvas", b"").decode(errors="replace"),
                              fields.get(b"digest", b"").decode(errors="replace")])
        return sorted(found, key=lambda s: s[0])

    def _trim_behind(self, last: int, cut: int) -> None:
        args: list = [cut, last, str(self.folder)]
        for agent in archive.agents(self.r):
            canvas = archive.canvas_at(self.r, agent, last, on_corrupt=self.on_corrupt)
            args += [agent, "", ""] if canvas is None else [agent, json.dumps(canvas.to_dict()), canvas.digest()]
        self._trim(args=args)


class RetentionThread:
    """Runs `retention.run()` every `policy.every` seconds until `close`. A pass that fails (Redis refuses, the
    disk is full) is said once per kind of failure, with what to do, and tried again at the next pass."""

    def __init__(self, retention: Retention):
        self.retention = retention
        self.failing: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="recorder-retention", daemon=True)

    def start(self) -> "RetentionThread":
        self._thread.start()
        return self

    def _work(self) -> None:
        while not self._stop.wait(self.retention.policy.every):
            try:
                self.retention.run()
            except Exception as exc:  # noqa: BLE001 - the thread's boundary: say it, keep the record, try again
                reason = f"{type(exc).__name__}: {exc}"
                if reason != self.failing:
                    event(log, logging.ERROR, "archiving old events failed; Redis keeps them meanwhile. Check the "
                          "archive folder's disk and permissions, and that Redis runs", reason=reason,
                          folder=str(self.retention.folder))
                self.failing = reason
                continue
            if self.failing is not None:
                event(log, logging.WARNING, "archiving old events works again")
                self.failing = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
