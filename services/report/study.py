"""What each agent did, felt and heard, read from the record's events in one pass (`aurora report`).

`read_study(events)` takes the record's events in seq order (`services.recorder.archive.iter_events`) and
counts, per agent: decisions, ops applied and rejected, notes (with the colour active when each was played),
feelings named, cells painted per colour, finished works with their titles, statements and coverage, the
canvas as it is at the end, and what `services.report.authenticity` measures: every choice an applied op made
(per list of the manual, and whether it was the first item of the agent's own list, as its `joined` event
ordered them) and each `echo` event (the longest run of words a generated text shares with its prompt).
Everything is derived from the events alone (PROTOCOL.md section 5), so a report can be checked against the
log it was made from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from proto.canvas import CanvasModel
from proto.envelope import Message
from proto.messages import echo_problem
from proto.events import OP_KINDS, RECORDED_FEELING, apply_event, rejected_lines
from proto.ops.manual import valid_lists
from proto.ops.parser import Op, parse_line
from proto.ops.table import BLANK, COLOURS, OPS

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


@dataclass(frozen=True)
class Echo:
    of: str  # one of proto.messages.ECHO_OF
    work: int
    words: int  # the longest run of consecutive words the text shares with its prompt
    run: str  # that run (at most 200 characters)
    asked: bool = False  # a title the agent asked its model for after a `done` without one (not an op chosen)
    studio_words: int | None = None  # the run shared with the prompt without the agent's own words (None: unsaid)


@dataclass
class AgentStudy:
    name: str
    models: list[str] = field(default_factory=list)  # in the order its `joined` events named them
    decisions: int = 0  # decisions whose lines reached the canvas (a decision's events are consecutive)
    last_decision: str | None = None
    # A decision that is the one before it again, op for op: a model copying its own last answer from its
    # context (the context grows turn by turn, services/agent/context.py). Counted, never hidden.
    repeated_decisions: int = 0
    decision_lines: list[str] = field(default_factory=list)  # the current decision's op lines, as events say
    previous_lines: list[str] | None = None
    ops_applied: int = 0
    ops_rejected: int = 0
    refused: Counter = field(default_factory=Counter)  # code -> lines the canvas refused with it (`empty_work`)
    notes: list[Note] = field(default_factory=list)
    feelings: Counter = field(default_factory=Counter)
    feeling_times: list[float] = field(default_factory=list)
    painted: Counter = field(default_factory=Counter)  # colour name -> cells painted with it (strokes)
    works: list[Work] = field(default_factory=list)
    lists: dict[str, list[str]] | None = None  # the manual's lists as its latest `joined` event ordered them
    choices: dict[str, Counter] = field(default_factory=dict)  # list name -> item -> times an applied op chose it
    pitches: Counter = field(default_factory=Counter)  # pitch as written ("C#4") -> notes played
    known: Counter = field(default_factory=Counter)  # list name -> choices made while the agent's lists were known
    first: Counter = field(default_factory=Counter)  # list name -> of those, choices of the list's first item
    echoes: list[Echo] = field(default_factory=list)
    asked_titles: int = 0  # titles asked for after a `done` without one (their echo says so)
    asked_titles_seen: int = 0  # of those, the title ops seen since (not counted as the model's choice of op)
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
            op = _op(kind, data)
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
        if op is not None:
            _count_choices(agent, op)
    for agent in agents.values():
        end_decision(agent)
    return Study(agents, canvases, first_seq, last_seq, read, first_time, last_time, unreadable)


def _colour(name: Any) -> str:
    if name not in COLOURS:
        raise ValueError(f"no colour {name!r} in the palette")
    return name


def _fact(kind: str, data: dict[str, Any], msg: Message) -> Any:
    """What the study keeps of one event, read whole: raises KeyError/TypeError/ValueError for one that lacks it."""
    if kind == "joined":
        lists = data.get("lists")
        if lists is not None and not valid_lists(lists):
            raise ValueError("lists that are not the manual's lists reordered")
        return str(data.get("model") or UNKNOWN_MODEL), lists
    if kind == "stroke":
        return _colour(data["color"]), len(data["cells"])
    if kind == "note":
        return Note(msg.time, int(data["midi"]), int(data["velocity"]), _colour(data["color"]), float(data["beats"]))
    if kind == "feel":
        if not isinstance(data["feel"], str) or not RECORDED_FEELING.fullmatch(data["feel"]):
            raise ValueError(f"no feeling in {data['feel']!r}")
        return data["feel"]
    if kind == "done":
        return Work(int(data["work"]), data.get("title"), msg.body["seq"], msg.time, coverage(data["cells"]))
    if kind == "statement":
        return int(data["work"]), str(data["text"])
    if kind == "rejected":
        return rejected_lines(data)
    if kind == "echo":
        problem = echo_problem(data)
        if problem:
            raise ValueError(problem)
        return Echo(data["of"], data["work"], data["words"], data["run"], data.get("asked") is True,
                    data.get("studio_words"))
    return None


def _op(kind: str, data: dict[str, Any]) -> Op | None:
    """The op an event of an op kind carries, parsed (a `remember` op is known from its `echo` event)."""
    if kind == "echo" and data["of"] == "remember":
        return Op("remember")
    if kind == "feel":  # any word the language took when it was recorded (`_fact`), a dictionary word or not
        return Op("feel", (data["feel"],))
    if kind not in OP_KINDS:
        return None
    op = parse_line(str(data["op"]))
    if not isinstance(op, Op):
        raise ValueError(f"{data['op']!r} is no op: {op.reason}")
    return op


def choices_of(op: Op) -> list[tuple[str, str]]:
    """(list name, item) of every choice `op` made from a list of the manual: the op itself, each choice
    argument, and a pitch's letter and octave."""
    made = [("ops", op.name)]
    for arg, value in zip(OPS[op.name].args, op.args):
        if arg.kind == "choice":
            made.append((arg.name, value))
        elif arg.kind == "pitch" and value is not None:
            made += [("letter", value[0]), ("octave", value[-1])]
    return made


def _count_choices(agent: AgentStudy, op: Op) -> None:
    if op.name == "title" and agent.asked_titles > agent.asked_titles_seen:
        agent.asked_titles_seen += 1  # its asked title's echo came first: the title op is the studio's, not a choice
        return
    for name, item in choices_of(op):
        agent.choices.setdefault(name, Counter())[item] += 1
        if agent.lists is not None:
            agent.known[name] += 1
            agent.first[name] += agent.lists[name][0] == item
    if op.name == "note":
        agent.pitches[op.args[0]] += 1


def end_decision(agent: AgentStudy) -> None:
    """Close the decision whose lines were gathered: count it if it repeats the one before, op for op."""
    if agent.decision_lines:
        agent.repeated_decisions += agent.decision_lines == agent.previous_lines
        agent.previous_lines, agent.decision_lines = agent.decision_lines, []


def _count(agent: AgentStudy, kind: str, fact: Any, msg: Message) -> None:
    if kind in OP_KINDS or kind == "rejected":
        if msg.parent_id is not None and msg.parent_id != agent.last_decision:
            agent.decisions += 1
            agent.last_decision = msg.parent_id
            end_decision(agent)
        agent.decision_lines.append(str(msg.body["data"].get("op") or msg.body["data"].get("text")))
        if kind == "rejected":  # one refused line, or the sum of a flood of them (PROTOCOL.md section 5)
            agent.ops_rejected += sum(fact.values())
            agent.refused.update(fact)
        else:
            agent.ops_applied += 1
    if kind == "joined":
        model, agent.lists = fact
        if not agent.models or agent.models[-1] != model:
            agent.models.append(model)
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
    elif kind == "echo":
        agent.echoes.append(fact)
        agent.asked_titles += fact.asked
