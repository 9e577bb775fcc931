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
from proto.ops.table import BLANK, COLOURS

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
    decisions: int = 0  # decisions whose lines reached the canvas (a decision's events are consecutive)
    last_decision: str | None = None
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
        return rejected_share(self.ops_applied, self.ops_rejected)

    @property
    def mean_coverage(self) -> float | None:
        return mean_coverage(self.works)


@dataclass
class Study:
    agents: dict[str, AgentStudy]
    canvases: dict[str, CanvasModel]  # each agent's canvas after the last event read
    first_seq: int
    last_seq: int
    events: int  # events read (a corrupt entry that did not decode is none of them)
    first_time: float | None  # the earliest event's time
    last_time: float | None  # the latest's
    unreadable: list[tuple[int, str]]  # (seq, reason) of events read that lacked what their kind needs

    def by_name(self) -> list[AgentStudy]:
        return sorted(self.agents.values(), key=lambda a: a.name)

    def by_model(self) -> dict[str, list[AgentStudy]]:
        """The agents under the model each last joined with (an agent's earlier models are in its `models`)."""
        groups: dict[str, list[AgentStudy]] = {}
        for agent in self.by_name():
            groups.setdefault(agent.model, []).append(agent)
        return dict(sorted(groups.items()))

    def lexicons(self) -> dict[str, Counter]:
        """Each model's emotions: word -> times named."""
        return {model: sum((a.feelings for a in agents), Counter()) for model, agents in self.by_model().items()}


def rejected_share(applied: int, rejected: int) -> float | None:
    """The share of an agent's (or a model's) lines that the canvas refused; None before any line."""
    return rejected / (applied + rejected) if applied + rejected else None


def mean_coverage(works: list[Work]) -> float | None:
    """Mean coverage of the finished works (None before the first is finished)."""
    return sum(w.coverage for w in works) / len(works) if works else None


def coverage(rows: Iterable[str]) -> float:
    cells = painted = 0
    for row in rows:
        cells += len(row)
        painted += sum(1 for c in row if c != BLANK)
    return painted / cells if cells else 0.0


def read_study(events: Iterable[Message]) -> Study:
    """The study of `events` (in seq order). An event that does not hold what its kind needs is listed in
    `unreadable` and counts for nothing: its facts are read before anything is counted or applied."""
    agents: dict[str, AgentStudy] = {}
    canvases: dict[str, CanvasModel] = {}
    unreadable: list[tuple[int, str]] = []
    first_seq = last_seq = read = 0
    first_time = last_time = None  # the earliest and the latest: a clock may step back between two events
    for msg in events:
        body = msg.body
        seq, name, kind, data = body["seq"], body["agent"], body["kind"], body["data"]
        first_seq = first_seq or seq
        last_seq = seq
        read += 1
        try:
            fact = _fact(kind, data, msg)
            apply_event(canvases, body)
        except (KeyError, TypeError, ValueError) as exc:
            unreadable.append((seq, f"{kind} event of {name}: {exc!r}"[:200]))
            continue
        first_time = msg.time if first_time is None else min(first_time, msg.time)
        last_time = msg.time if last_time is None else max(last_time, msg.time)
        agent = agents.get(name)
        if agent is None:
            agent = agents[name] = AgentStudy(name)
        agent.first_time = msg.time if agent.first_time is None else min(agent.first_time, msg.time)
        agent.last_time = msg.time if agent.last_time is None else max(agent.last_time, msg.time)
        _count(agent, kind, fact, msg)
    return Study(agents, canvases, first_seq, last_seq, read, first_time, last_time, unreadable)


def _colour(name: Any) -> str:
    if name not in COLOURS:
        raise ValueError(f"no colour {name!r} in the palette")
    return name


def _fact(kind: str, data: dict[str, Any], msg: Message) -> Any:
    """What the study keeps of one event, read whole: raises KeyError/TypeError/ValueError for one that lacks it."""
    if kind == "joined":
        return str(data.get("model") or UNKNOWN_MODEL)
    if kind == "stroke":
        return _colour(data["color"]), len(data["cells"])
    if kind == "note":
        return Note(msg.time, int(data["midi"]), int(data["velocity"]), _colour(data["color"]), float(data["beats"]))
    if kind == "feel":
        return str(data["feel"])
    if kind == "done":
        return Work(int(data["work"]), data.get("title"), msg.body["seq"], msg.time, coverage(data["cells"]))
    if kind == "statement":
        return int(data["work"]), str(data["text"])
    return None


def _count(agent: AgentStudy, kind: str, fact: Any, msg: Message) -> None:
    if kind in OP_KINDS or kind == "rejected":
        if msg.parent_id is not None and msg.parent_id != agent.last_decision:
            agent.decisions += 1
            agent.last_decision = msg.parent_id
        if kind == "rejected":
            agent.ops_rejected += 1
        else:
            agent.ops_applied += 1
    if kind == "joined":
        if not agent.models or agent.models[-1] != fact:
            agent.models.append(fact)
    elif kind == "stroke":
        agent.painted[fact[0]] += fact[1]
    elif kind == "note":
        agent.notes.append(fact)
    elif kind == "feel":
        agent.feelings[fact] += 1
        agent.feeling_times.append(msg.time)
    elif kind == "done":
        agent.works.append(fact)
    elif kind == "statement":
        work, text = fact
        for finished in reversed(agent.works):
            if finished.work == work:
                finished.statement = text
                break
