"""What the gateway has seen live, counted from the events it forwards (touched by the event loop only).

Per agent: notes played (and the latest few), feelings named, ops applied and rejected, works finished; and
the gallery of finished works, newest last. The API answers from these counts when the gateway has no record
(REDIS_URL unset or unreachable): they run from the gateway's start, not from the studio's. The gallery also
feeds the WebSocket: a snapshot's `works`, and a `work` message on each `done` and `statement` event. It starts
from the record's latest works when there is a record.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from typing import Any

from proto.events import OP_KINDS, rejected_lines
from services.audio_gateway.messages import png_path

NOTES_KEPT = 50  # latest notes kept per agent
GALLERY_KEPT = 512  # finished works kept, with their cells (for their PNG when there is no record)
WORK_FIELDS = ("agent", "work", "title", "statement", "done_seq", "png")  # a `work` message (PROTOCOL.md 12)

Key = tuple[str, int]


class LiveStudio:
    def __init__(self) -> None:
        self.first_seq: int | None = None  # the first event counted
        self.notes: Counter[str] = Counter()
        self.latest_notes: defaultdict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=NOTES_KEPT))
        self.feelings: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.ops_applied: Counter[str] = Counter()
        self.ops_rejected: Counter[str] = Counter()
        self.works_finished: Counter[str] = Counter()
        self.gallery: OrderedDict[Key, dict[str, Any]] = OrderedDict()  # in the order finished (done_seq)
        self.cells: dict[Key, list[str]] = {}

    def agents(self) -> set[str]:
        return set(self.ops_applied) | set(self.ops_rejected) | set(self.works_finished) | set(self.feelings)

    def facts(self, agent: str) -> dict[str, int]:
        return {"notes_played": self.notes[agent], "works_finished": self.works_finished[agent],
                "ops_applied": self.ops_applied[agent], "ops_rejected": self.ops_rejected[agent]}

    # -- events -------------------------------------------------------------------------------------------

    def on_event(self, body: dict[str, Any], time: float) -> dict[str, Any] | None:
        """Count one event; return the gallery item to announce (a work finished, or its statement came)."""
        seq, agent, kind, data = body["seq"], body["agent"], body["kind"], body["data"]
        if self.first_seq is None:
            self.first_seq = seq
        if kind in OP_KINDS:
            self.ops_applied[agent] += 1
        if kind == "rejected":
            self.ops_rejected[agent] += sum(rejected_lines(data).values())
        elif kind == "note":
            self.notes[agent] += 1
            self.latest_notes[agent].append({"seq": seq, "time": time, **data})
        elif kind == "feel":
            self.feelings[agent][str(data.get("feel"))] += 1
        elif kind == "done":
            self.works_finished[agent] += 1
            return self._finished(agent, data, seq, time)
        elif kind == "statement":
            item = self.gallery.get((agent, data.get("work")))
            if item is not None:
                item["statement"] = data.get("text")
                return item
        return None

    def _finished(self, agent: str, data: dict[str, Any], seq: int, time: float) -> dict[str, Any]:
        number = int(data["work"])
        key = (agent, number)
        item = {"agent": agent, "work": number, "title": data.get("title"), "statement": None, "done_seq": seq,
                "finished": time, "png": png_path(agent, number)}
        self.gallery.pop(key, None)
        self.gallery[key] = item
        self.cells[key] = list(data.get("cells") or [])
        while len(self.gallery) > GALLERY_KEPT:
            old, _ = self.gallery.popitem(last=False)
            self.cells.pop(old, None)
        return item

    # -- the gallery ----------------------------------------------------------------------------------------

    def seed(self, works: list[dict[str, Any]]) -> None:
        """Begin the gallery with works from the record (items as `page` gives them), before any live one."""
        for item in sorted(works, key=lambda w: w["done_seq"]):
            key = (item["agent"], item["work"])
            if key not in self.gallery:
                self.gallery[key] = dict(item)
        while len(self.gallery) > GALLERY_KEPT:
            self.gallery.popitem(last=False)

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The latest finished works, newest first, with the fields of a `work` message."""
        out = []
        for item in reversed(self.gallery.values()):
            if len(out) >= limit:
                break
            out.append(public(item))
        return out

    def page(self, limit: int, before: int | None = None, agent: str | None = None) -> list[dict[str, Any]]:
        """Finished works newest first (with `finished`), those done before seq `before` only, at most `limit`."""
        out = []
        for item in reversed(self.gallery.values()):
            if len(out) >= limit:
                break
            if (before is None or item["done_seq"] < before) and (agent is None or item["agent"] == agent):
                out.append(dict(item))
        return out


def public(item: dict[str, Any]) -> dict[str, Any]:
    """A gallery item as a `work` message (or a snapshot's `works`) carries it."""
    return {field: item.get(field) for field in WORK_FIELDS}
