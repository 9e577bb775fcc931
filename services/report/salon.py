"""One run's facts for the modes section, gathered in one pass over its events (`RunFacts.see` each, in seq order).

Per time window from the run's first event (`window` seconds): each agent's title words and titles (of the works
it finished in the window), feelings named, and cells painted per colour (its `stroke` events). For the influence
test: every finished work (its title's words and its cells per colour, from `done`), every post (its title and
the cells of the work it shows: the author's `done`, or its thumbnail if that is not in the events read), and
every `read` (the posts an agent was shown, and when). For the salon's own table: posts, replies, reactions and
reads per agent, and the salon's refusals by code. An event that lacks what its kind needs is counted in
`unreadable` and adds nothing.

Since protocol 1.8 every `joined` event says the studio's `mode`, and `mode_evidence` reads it there. A record
made before says it through what only one mode records: salon events (`post`, `reply`, `react`, `read`) or the
board's refusals (`nothing_to_post`, `no_such_post`, `own_post`, `salon_limited`) say salon; a `not_salon`
refusal says isolated; a run with neither says nothing, and the report then takes the mode it is told.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from proto.envelope import Message
from proto.events import rejected_lines
from proto.ops.table import BLANK, CODE_TO_COLOUR, COLOURS
from services.report.similarity import words
from services.report.study import UNKNOWN_MODEL

SALON_KINDS = ("post", "reply", "react", "read")
BOARD_CODES = ("nothing_to_post", "no_such_post", "own_post", "salon_limited")  # refused only in a salon
ISOLATED_CODE = "not_salon"  # refused only in an isolated studio
SALON_CODES = (ISOLATED_CODE, *BOARD_CODES)
# The influence test pairs each post read with the reader's next works, this many at most, finished within this
# many minutes of the read (services/report/influence.py; here, so that `aurora report`'s options load no scipy)
INFLUENCE_WORKS = 3
INFLUENCE_MINUTES = 15.0


def cell_colours(rows: list[str]) -> Counter:
    """Cells per colour name of a canvas's rows of colour codes (blank cells are no colour)."""
    return Counter(CODE_TO_COLOUR[c] for row in rows for c in row if c != BLANK and c in CODE_TO_COLOUR)


@dataclass(frozen=True)
class Piece:
    """A work as the influence test compares it: its title's words and its cells per colour."""

    agent: str
    seq: int
    time: float
    title: str | None
    words: frozenset[str]
    colours: Counter


@dataclass(frozen=True)
class Finished(Piece):
    work: int = 0


@dataclass(frozen=True)
class Posted(Piece):
    post: int = 0
    work_seq: int | None = None  # the seq of the `done` of the work it shows, where the events hold it
    made: float | None = None  # when that work was finished (else the post's own time)


@dataclass(frozen=True)
class Read:
    agent: str
    seq: int
    time: float
    posts: tuple[int, ...]


@dataclass
class Window:
    """What each agent did in one window: agent -> counts."""

    title_words: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    titles: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    feelings: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    colours: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class RunFacts:
    window: float  # seconds
    start: float | None = None  # the first event's time
    end: float | None = None  # the latest event's time
    events: int = 0
    unreadable: int = 0
    models: dict[str, str] = field(default_factory=dict)  # agent -> the model it last joined with
    windows: dict[int, Window] = field(default_factory=lambda: defaultdict(Window))
    works: list[Finished] = field(default_factory=list)
    posts: dict[int, Posted] = field(default_factory=dict)
    reads: list[Read] = field(default_factory=list)
    acts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # agent -> salon kind -> events
    posts_read: Counter = field(default_factory=Counter)  # agent -> posts shown to it
    refusals: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # agent -> salon code -> lines
    joined_modes: Counter = field(default_factory=Counter)  # mode -> joined events that say it (1.8)

    def see(self, msg: Message) -> None:
        body = msg.body
        self.events += 1
        try:
            self._see(str(body["agent"]), body["kind"], body["data"], int(body["seq"]), float(msg.time))
        except (KeyError, TypeError, ValueError, AttributeError):
            self.unreadable += 1

    def _see(self, agent: str, kind: str, data: dict[str, Any], seq: int, time: float) -> None:
        if self.start is None:
            self.start = time
        self.end = time if self.end is None else max(self.end, time)
        window = self.windows[max(0, int((time - self.start) // self.window))]
        if kind == "joined":
            self.models[agent] = str(data.get("model") or UNKNOWN_MODEL)
            if data.get("mode") in ("isolated", "salon"):
                self.joined_modes[data["mode"]] += 1
        elif kind == "stroke":
            if data["color"] not in COLOURS:
                raise ValueError(data["color"])
            window.colours[agent][data["color"]] += len(data["cells"])
        elif kind == "feel":
            window.feelings[agent][str(data["feel"])] += 1
        elif kind == "done":
            title = data.get("title")
            work = Finished(agent, seq, time, title, words(title), cell_colours(data["cells"]), work=int(data["work"]))
            self.works.append(work)
            if title:
                window.titles[agent][title] += 1
                window.title_words[agent].update(work.words)
        elif kind == "post":
            shown = next((w for w in reversed(self.works) if w.agent == agent and w.work == int(data["work"])), None)
            colours = shown.colours if shown is not None else cell_colours(data.get("thumb") or [])
            title = data.get("title")
            self.posts[int(data["post"])] = Posted(
                agent, seq, time, title, words(title), colours, post=int(data["post"]),
                work_seq=None if shown is None else shown.seq, made=time if shown is None else shown.time)
        elif kind == "read":
            posts = tuple(int(p) for p in data["posts"])
            self.reads.append(Read(agent, seq, time, posts))
            self.posts_read[agent] += len(posts)
        elif kind == "rejected":
            for code, lines in rejected_lines(data).items():
                if code in SALON_CODES:
                    self.refusals[agent][code] += lines
        if kind in SALON_KINDS:
            self.acts[agent][kind] += 1

    @property
    def agents(self) -> list[str]:
        return sorted(set(self.models) | {a for w in self.windows.values() for a in _agents_of(w)})

    @property
    def window_count(self) -> int:
        return max(self.windows, default=-1) + 1

    def mode_evidence(self) -> tuple[str | None, str]:
        """(the mode the events show, or None, and why)."""
        if len(self.joined_modes) == 1:
            (mode, n), = self.joined_modes.items()
            return mode, f"{n} joined events say {mode}"
        salon = sum(sum(c[k] for k in SALON_KINDS) for c in self.acts.values())
        board = sum(sum(c[k] for k in BOARD_CODES) for c in self.refusals.values())
        isolated = sum(c[ISOLATED_CODE] for c in self.refusals.values())
        if salon or board:
            return "salon", f"{salon} salon events (post, reply, react, read) and {board} refusals by the board"
        if isolated:
            return "isolated", f"{isolated} salon ops refused with {ISOLATED_CODE}"
        return None, "no salon event and no salon refusal in the events"


def _agents_of(window: Window) -> set[str]:
    return set(window.title_words) | set(window.feelings) | set(window.colours) | set(window.titles)
