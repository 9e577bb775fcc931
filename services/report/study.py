"""What each agent did, felt and heard, read from the record's events in one pass (`aurora report`).

`read_study(events)` takes the record's events in seq order (`services.recorder.archive.iter_events`) and
counts, per agent: decisions, ops applied and rejected, notes (with the colour active when each was played),
feelings named, cells painted per colour, finished works with their titles, statements and coverage, and the
canvas as it is at the end. Everything is derived from the events alone (PROTOCOL.md section 5), so a report
can be checked against the log it was made from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from proto.canvas import CanvasModel
from proto.envelope import Message
from proto.events import OP_KINDS, apply_event
from proto.ops.table import BLANK

UNKNOWN_MODEL = "unknown"  # an agent whose `joined` events named no model


@dataclass(frozen=True)
class Note:
    time: float
    midi: int
    velocity: int
    color: str
    beats: float


@dataclass
class Work:
    work: int
    title: str | None
    done_seq: int
    finished: float
    coverage: float  # share of the canvas's cells that are painted
    statement: str | None = None


@dataclass
class AgentStudy:
    name: str
    models: list[str] = field(default_factory=list)  # in the order its `joined` events named them
    decisions: set[str] = field(default_factory=set)  # ids of the decisions whose lines reached the canvas
    ops_applied: int = 0
    ops_rejected: int = 0
    notes: list[Note] = field(default_factory=list)
    feelings: Counter = field(default_factory=Counter)
    feeling_times: list[float] = field(default_factory=list)
    painted: Counter = field(default_factory=Counter)  # colour name -> cells painted with it (strokes)
    works: list[Work] = field(default_factory=list)
    first_time: float | None = None
    last_time: float | None = None

    @property
    def model(self) -> str:
        return self.models[-1] if self.models else UNKNOWN_MODEL

    @property
    def rejected_share(self) -> float | None:
        total = self.ops_applied + self.ops_rejected
        return self.ops_rejected / total if total else None

    @property
    def mean_coverage(self) -> float | None:
        """Mean coverage of the finished works (None before the first is finished)."""
        return sum(w.coverage for w in self.works) / len(self.works) if self.works else None


@dataclass
class Study:
    agents: dict[str, AgentStudy]
    canvases: dict[str, CanvasModel]  # each agent's canvas after the last event read
    first_seq: int
    last_seq: int
    first_time: float | None
    last_time: float | None
    unreadable: list[tuple[int, str]]  # (seq, reason) of events that could not be applied to a canvas

    @property
    def events(self) -> int:
        return self.last_seq - self.first_seq + 1 if self.last_seq else 0

    def by_model(self) -> dict[str, list[AgentStudy]]:
        groups: dict[str, list[AgentStudy]] = {}
        for agent in sorted(self.agents.values(), key=lambda a: a.name):
            groups.setdefault(agent.model, []).append(agent)
        return dict(sorted(groups.items()))


def coverage(rows: Iterable[str]) -> float:
    cells = painted = 0
    for row in rows:
        cells += len(row)
        painted += sum(1 for c in row if c != BLANK)
    return painted / cells if cells else 0.0


def read_study(events: Iterable[Message]) -> Study:
    agents: dict[str, AgentStudy] = {}
    canvases: dict[str, CanvasModel] = {}
    unreadable: list[tuple[int, str]] = []
    first_seq = last_seq = 0
    first_time = last_time = None
    for msg in events:
        body = msg.body
        seq, name, kind, data = body["seq"], body["agent"], body["kind"], body["data"]
        first_seq = first_seq or seq
        last_seq = seq
        first_time = msg.time if first_time is None else first_time
        last_time = msg.time
        agent = agents.get(name)
        if agent is None:
            agent = agents[name] = AgentStudy(name)
        agent.first_time = msg.time if agent.first_time is None else agent.first_time
        agent.last_time = msg.time
        try:
            _count(agent, kind, data, msg)
            apply_event(canvases, body)
        except (KeyError, TypeError, ValueError) as exc:
            unreadable.append((seq, f"{kind} event of {name}: {exc!r}"[:200]))
    return Study(agents, canvases, first_seq, last_seq, first_time, last_time, unreadable)


def _count(agent: AgentStudy, kind: str, data: dict[str, Any], msg: Message) -> None:
    if kind in OP_KINDS or kind == "rejected":
        if msg.parent_id is not None:
            agent.decisions.add(msg.parent_id)
        if kind == "rejected":
            agent.ops_rejected += 1
        else:
            agent.ops_applied += 1
    if kind == "joined":
        model = data.get("model") or UNKNOWN_MODEL
        if not agent.models or agent.models[-1] != model:
            agent.models.append(model)
    elif kind == "stroke":
        agent.painted[data["color"]] += len(data["cells"])
    elif kind == "note":
        agent.notes.append(Note(msg.time, int(data["midi"]), int(data["velocity"]), data["color"],
                                float(data["beats"])))
    elif kind == "feel":
        agent.feelings[data["feel"]] += 1
        agent.feeling_times.append(msg.time)
    elif kind == "done":
        agent.works.append(Work(int(data["work"]), data.get("title"), msg.body["seq"], msg.time,
                                coverage(data["cells"])))
    elif kind == "statement":
        for work in reversed(agent.works):
            if work.work == data["work"]:
                work.statement = data["text"]
                break
