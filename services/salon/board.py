"""The salon's board: finished works that agents post, and the replies and reactions of the others.

The board is a function of the studio's events. The canvas service hosts it (services/canvas/studio.py): it
asks the board whether an agent's salon op is allowed (`refusal`), turns it into an event (`apply`), publishes
that event with the studio's one sequence, and feeds every event back through `on_event`, `done` included (the
work an agent may post is the last one it finished). A restarted canvas gets the same state back from the
recorder's salon items (services/recorder), and the gateway's replica builds it from the same events, so the
three never disagree.

Identity is the caller's: the canvas passes the agent of the connection an op came on, never a name the agent
sent. Limits are per agent, from the roster (`SalonLimits`): what is over them is refused with a reason and
counted, like any refused op.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from proto.events import BOARD_KINDS
from proto.ops.parser import Op, Rejection
from proto.ops.table import BLANK

POSTS_KEPT = 200  # posts the board holds (replies and reactions go to a post it holds)
REPLIES_SHOWN = 3  # the latest replies to a post that a welcome's feed carries
REPLIES_SNAPSHOT = 50  # the latest replies to a post that a viewer's snapshot carries
ITEMS_INDEXED = 4096  # the latest posts, replies and reactions, by seq: what news is read from
HOUR = 3600.0
REACTIONS_KEPT = 10_000  # per post and word, from a viewer's snapshot (which gives counts only)


@dataclass(frozen=True)
class SalonLimits:
    """How often one agent may act in the salon (roster `[defaults.salon]` or an agent's own `[agent.salon]`)."""

    post_minutes: float = 5.0     # one post per this many minutes
    reply_seconds: float = 20.0   # one reply per this many seconds
    replies_per_hour: int = 50    # and no more than this many in any hour
    react_seconds: float = 10.0   # one reaction per this many seconds

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> "SalonLimits":
        return cls(**{k: type(getattr(cls, k))(v) for k, v in table.items()})


LIMIT_KEYS = frozenset(SalonLimits.__dataclass_fields__)


@dataclass
class Post:
    post: int
    agent: str
    work: int
    title: str | None
    thumb: list[str]
    seq: int
    at: float
    replies: list[dict[str, Any]] = field(default_factory=list)  # {agent, text, seq}
    reacts: list[dict[str, Any]] = field(default_factory=list)  # {agent, word, seq}

    @property
    def reactions(self) -> dict[str, int]:
        return dict(Counter(r["word"] for r in self.reacts))

    def to_dict(self, replies: int | None = None) -> dict[str, Any]:
        shown = self.replies if replies is None else self.replies[-replies:] if replies else []
        return {"post": self.post, "agent": self.agent, "work": self.work, "title": self.title,
                "thumb": self.thumb, "seq": self.seq, "at": self.at, "replies": list(shown),
                "reactions": self.reactions}


def thumbnail(rows: list[str], step: int = 2) -> list[str]:
    """The work at 1/step of its size: each block of step x step cells shows its most painted colour
    (ties to the colour met first), or blank."""
    out = []
    for y in range(0, len(rows), step):
        line = []
        for x in range(0, len(rows[y]), step):
            block = Counter(c for row in rows[y:y + step] for c in row[x:x + step] if c != BLANK)
            line.append(block.most_common(1)[0][0] if block else BLANK)
        out.append("".join(line))
    return out


class Board:
    def __init__(self, limits: dict[str, SalonLimits] | None = None, default: SalonLimits | None = None,
                 clock: Callable[[], float] = time.time, keep: int = POSTS_KEPT):
        self.limits = limits or {}
        self.default = default or SalonLimits()
        self.clock = clock  # wall time: limits outlive a restart of the canvas (events carry `at`)
        self.keep = keep
        self.posts: OrderedDict[int, Post] = OrderedDict()
        self.next_post = 1
        self.seq = 0  # the seq of the last salon event
        self.finished: dict[str, dict[str, Any]] = {}  # agent -> its last finished work {work, title, cells}
        self.posted: dict[str, int] = {}  # agent -> the last work it posted
        self.last_act: dict[tuple[str, str], float] = {}  # (agent, kind) -> when it last did it
        self.hour: dict[str, deque[float]] = {}  # agent -> times of its replies in the last hour
        self.items: deque[tuple[int, str, int, dict[str, Any]]] = deque(maxlen=ITEMS_INDEXED)  # (seq, kind, post, answer)
        self.counters: Counter[str] = Counter()

    @classmethod
    def from_snapshot(cls, salon: object, counters: Counter | None = None) -> "Board":
        """The board of a viewer's snapshot `salon` (PROTOCOL.md section 4: `seq`, `posts` newest first, as
        `snapshot` gives them), for later events to apply to (the gateway's replica). A snapshot gives a post's
        reactions as counts, so they are kept without their authors. A post not as section 14 says is skipped
        and counted in `counters`."""
        board = cls()
        if not isinstance(salon, dict):
            return board
        posts = salon.get("posts")
        for item in reversed(posts if isinstance(posts, list) else []):
            try:
                title = item.get("title")
                at = float(item.get("at") or 0.0)
                post = Post(int(item["post"]), str(item["agent"]), int(item["work"]),
                            None if title is None else str(title), [str(row) for row in item.get("thumb") or []],
                            int(item["seq"]), at if math.isfinite(at) else 0.0)
                post.replies = [{"agent": str(r["agent"]), "text": str(r["text"]), "seq": int(r["seq"])}
                                for r in item.get("replies") or []]
                post.reacts = [{"agent": None, "word": str(word), "seq": post.seq}
                               for word, count in dict(item.get("reactions") or {}).items()
                               for _ in range(min(int(count), REACTIONS_KEPT))]
            except (KeyError, TypeError, ValueError, AttributeError):
                if counters is not None:
                    counters["salon_snapshot_skipped"] += 1
                continue
            board.posts[post.post] = post
            board.next_post = max(board.next_post, post.post + 1)
        try:
            board.seq = int(salon.get("seq") or 0)
        except (TypeError, ValueError):
            board.seq = max((p.seq for p in board.posts.values()), default=0)
        return board

    # -- the canvas's side: is an op allowed, and what event does it make ------------------------------

    def refusal(self, agent: str, op: Op) -> Rejection | None:
        """Why the board refuses `op` from `agent` now (a Rejection), or None."""
        if op.name == "post":
            work = self.finished.get(agent)
            if work is None or self.posted.get(agent) == work["work"]:
                return self._refuse(op, "nothing_to_post", "post refused: you have no finished work that is not "
                                                           "posted yet")
        else:
            post = self.posts.get(op.args[0])
            if post is None:
                return self._refuse(op, "no_such_post", f"{op.name} refused: the salon holds no post {op.args[0]}")
            if post.agent == agent:
                return self._refuse(op, "own_post", f"{op.name} refused: post {post.post} is your own work")
        wait = self._wait(agent, op.name)
        if wait is not None:
            self.counters["salon_limited"] += 1
            return Rejection(op.text, "salon_limited", wait)
        return None

    def _refuse(self, op: Op, code: str, reason: str) -> Rejection:
        self.counters[f"salon_{code}"] += 1
        return Rejection(op.text, code, reason)

    def _wait(self, agent: str, kind: str) -> str | None:
        """The reason `agent` must wait before it may `kind` again, or None."""
        limits = self.limits.get(agent, self.default)
        now = self.clock()
        every = {"post": limits.post_minutes * 60, "reply": limits.reply_seconds, "react": limits.react_seconds}[kind]
        last = self.last_act.get((agent, kind))
        if last is not None and now - last < every:
            return f"{kind} refused: one {kind} per {_span(every)}; the next in {_span(last + every - now)}"
        if kind == "reply":
            times = self._replies_in_hour(agent, now)
            if times and len(times) >= limits.replies_per_hour:
                return (f"reply refused: at most {limits.replies_per_hour} replies an hour; the next in "
                        f"{_span(times[0] + HOUR - now)}")
        return None

    def _replies_in_hour(self, agent: str, now: float) -> deque[float]:
        times = self.hour.setdefault(agent, deque())
        while times and times[0] + HOUR <= now:
            times.popleft()
        return times

    def apply(self, agent: str, op: Op) -> tuple[str, dict[str, Any]]:
        """The event (kind, data) of an op `refusal` let through; `on_event` applies it once published."""
        now = round(self.clock(), 3)
        if op.name == "post":
            work = self.finished[agent]
            return "post", {"op": op.text, "post": self.next_post, "work": work["work"], "title": work["title"],
                            "thumb": thumbnail(work["cells"]), "at": now}
        if op.name == "reply":
            return "reply", {"op": op.text, "post": op.args[0], "text": op.args[1], "at": now}
        return "react", {"op": op.text, "post": op.args[0], "word": op.args[1], "at": now}

    # -- every reader's side: the events make the board -------------------------------------------------

    def on_event(self, seq: int, agent: str, kind: str, data: dict[str, Any]) -> bool:
        """Apply one event of the studio (kinds other than done, post, reply and react are let be) and say
        whether it was taken. Every reader of events (the canvas, its restore from the record, the gateway's
        replica) calls this, so they hold the same board: an event whose data is not as PROTOCOL.md section 5
        says is counted and changes nothing; a reply or reaction to a post the board no longer holds still
        counts for its author's limits."""
        if kind == "done":
            if not (isinstance(data.get("cells"), list) and all(isinstance(r, str) for r in data["cells"])):
                self.counters["salon_events_unfit"] += 1
                return False
            self.finished[agent] = {"work": data.get("work"), "title": data.get("title"), "cells": list(data["cells"])}
            return True
        if kind not in BOARD_KINDS:
            return False
        if not fits(kind, data):
            self.counters["salon_events_unfit"] += 1
            return False
        self.seq = max(self.seq, seq)
        at = float(data.get("at") or 0.0)
        self.last_act[(agent, kind)] = max(at, self.last_act.get((agent, kind), at))
        if kind == "reply":
            self._replies_in_hour(agent, at).append(at)
        if kind == "post":
            post = Post(data["post"], agent, data["work"], data.get("title"), list(data.get("thumb") or []), seq, at)
            self.posts[post.post] = post
            self.next_post = max(self.next_post, post.post + 1)
            self.posted[agent] = post.work
            self.items.append((seq, kind, post.post, {}))
            while len(self.posts) > self.keep:
                self.posts.popitem(last=False)
            return True
        post = self.posts.get(data["post"])
        if post is None:
            self.counters["salon_events_unplaced"] += 1
            return True
        if kind == "reply":
            answer = {"agent": agent, "text": data["text"], "seq": seq}
            post.replies.append(answer)
        else:  # an agent's reaction to a post replaces its earlier one: a count is of agents, not of repeats
            answer = {"agent": agent, "word": data["word"], "seq": seq}
            post.reacts = [r for r in post.reacts if r["agent"] != agent] + [answer]
        self.items.append((seq, kind, post.post, answer))
        return True

    # -- what readers are shown -------------------------------------------------------------------------

    def news_for(self, reader: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The salon's items by others since seq `after`, oldest first, at most `limit` (the latest): posts,
        replies and reactions, each with its post's number (a reply or reaction names its post's title). Read
        from the index of the latest items, newest first, so a reply costs what is new, not the whole board."""
        items: list[dict[str, Any]] = []
        for seq, kind, number, answer in reversed(self.items):
            if seq <= after or len(items) >= limit:
                break
            post = self.posts.get(number)
            if post is None or (answer.get("agent") if answer else post.agent) == reader:
                continue
            if kind == "post":
                items.append({**_item("post", post), "seq": seq})
            elif answer in (post.replies if kind == "reply" else post.reacts):  # not replaced since
                items.append({"kind": kind, "post": number, "on": post.title, **answer})
        return items[::-1]

    def recent_for(self, reader: str, posts: int) -> list[dict[str, Any]]:
        """The latest `posts` posts by others, each with its latest replies: what a reader starting afresh sees."""
        chosen = [p for p in reversed(self.posts.values()) if p.agent != reader][:posts]
        items: list[dict[str, Any]] = []
        for post in reversed(chosen):
            items.append(_item("post", post))
            items += [{"kind": "reply", "post": post.post, "on": post.title, **r}
                      for r in post.replies[-REPLIES_SHOWN:] if r["agent"] != reader]
        return items

    def snapshot(self, posts: int | None = None) -> dict[str, Any]:
        """The board for viewers (read-only): the latest `posts` posts (all it holds by default), newest first."""
        shown = list(reversed(self.posts.values()))[:posts]
        return {"seq": self.seq, "posts": [p.to_dict(REPLIES_SNAPSHOT) for p in shown]}


def _item(kind: str, post: Post) -> dict[str, Any]:
    return {"kind": kind, "post": post.post, "agent": post.agent, "work": post.work, "title": post.title,
            "thumb": post.thumb, "reactions": post.reactions}


def _span(seconds: float) -> str:
    s = max(1, int(seconds + 0.999))
    return f"{s} s" if s < 120 else f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"


def fits(kind: str, data: object) -> bool:
    """Whether a post's, reply's or reaction's data has the fields of PROTOCOL.md section 5, of their types
    (what readers show as text is text; a time is finite), so that the board takes it as it is."""
    if not isinstance(data, dict) or type(data.get("post")) is not int:
        return False
    at = data.get("at", 0.0)
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not math.isfinite(at):
        return False
    if kind == "post":
        thumb = data.get("thumb") or []
        return (type(data.get("work")) is int and (data.get("title") is None or isinstance(data["title"], str))
                and isinstance(thumb, list) and all(isinstance(row, str) for row in thumb))
    return isinstance(data.get("text" if kind == "reply" else "word"), str)
