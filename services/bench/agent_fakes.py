"""What `aurora bench agent` puts around a real Agent: an in-process canvas, an in-memory bank, a simulated clock.

The agent, its prompt, its Generator and its grammar are the real ones; only the canvas socket and Redis are
replaced, so that a decision's time is the model's and the agent's own. The fake canvas applies ops with the
real rules (proto.canvas.CanvasModel) and answers as the canvas service does (services/canvas/studio.py `_ops`),
so consecutive prompts change the way they do in the studio: a few canvas rows, the state, the clock.
"""

from __future__ import annotations

import calendar
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

from proto.canvas import CanvasModel
from proto.ops.manual import choice_lists
from proto.ops.parser import Op, parse
from proto.messages import USAGE_FIELDS
from services.agent.memory import render_recent, trim_to_fit

# The simulated clock starts here and moves on by DECISION_S per decision, so the prompts (clock line and
# "since your last turn") are the same on every run and change from turn to turn as a resident agent's do.
EPOCH = calendar.timegm((2026, 11, 23, 9, 0, 0))
DECISION_S = 7.0


class SimClock:
    def __init__(self, start: float = EPOCH):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = DECISION_S) -> None:
        self.now += seconds


class FakeCanvasClient:
    """The CanvasClient surface an Agent uses, answered in-process from a CanvasModel."""

    def __init__(self, agent: str, view: dict[str, bool] | None = None):
        self.agent = agent
        self.canvas = CanvasModel()
        self.view_options = view or {}
        self.notified: list[tuple[str, dict[str, Any]]] = []
        self.decisions = 0
        self.lists = None

    def _view(self) -> dict[str, Any]:
        return {"view": self.canvas.view(**self.view_options), "state": self.canvas.state(),
                "cells": list(self.canvas.rows())}

    def connect_with_backoff(self, deadline: float | None = None, should_stop=lambda: False) -> dict[str, Any]:
        return {"agent": self.agent, **self._view()}

    def decide(self, text: str, timeout: float | None = None) -> dict[str, Any]:
        applied: list[str] = []
        rejected: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        for item in parse(text):
            if isinstance(item, Op):
                item = self.canvas.refusal(item) or item
            if not isinstance(item, Op):
                rejected.append({"text": item.text, "code": item.code, "reason": item.reason})
                continue
            for kind, data in self.canvas.apply(item):
                if kind == "note":
                    notes.append({k: v for k, v in data.items() if k != "op"})
            applied.append(item.text)
        self.decisions += 1
        return {"applied": applied, "rejected": rejected, "notes": notes, **self._view()}

    def notify(self, msg_type: str, body: dict[str, Any]) -> None:
        self.notified.append((msg_type, body))

    def idle(self) -> None:
        pass

    @contextmanager
    def keepalive(self) -> Iterator[None]:
        yield

    def close(self, bye: bool = True) -> None:
        pass


class FakeBank:
    """The MemoryBank surface an Agent uses, in memory, seeded with a resident agent's few memories (so the
    prompt has its memory section) and rendered with the bank's own `render_recent`."""

    def __init__(self, now: float = EPOCH):
        day = 86400.0
        # A resident agent's memories as the bank renders them; the words are the bench's own, never shown to
        # a model of the studio (a bench measures time, not what a model makes of what it reads).
        self.works = [{"work": 1, "title": "Low Tide", "at": now - 2 * day,
                       "statement": "rows under a slow bass line"}]
        self.notes = [{"note": "a corner left open", "at": now - day}]
        self.dreams: list[dict[str, Any]] = []
        self.feelings = Counter({"calm": 3, "curious": 1})
        self._clock = {"first_woke": now - 3 * day, "work_started": None, "last_turn": None}
        self.usage = Counter()
        self.budget: dict | None = None

    def render(self, limit_chars: int) -> str:
        recent = {"works": self.works[:], "notes": self.notes[:], "dreams": self.dreams[:],
                  "feelings": self.feelings.most_common(8)}
        return render_recent(trim_to_fit(recent, limit_chars))

    def record_work(self, work: int, title: str | None, statement: str | None, at: float) -> None:
        self.works.insert(0, {"work": work, "title": title, "statement": statement, "at": at})

    def record_feel(self, word: str, at: float) -> None:
        self.feelings[word.lower()] += 1

    def remember(self, note: str, at: float) -> None:
        self.notes.insert(0, {"note": note, "at": at})

    def pending_entries(self) -> list[tuple[float, str]]:
        return []  # the bench measures decisions, not dreams

    def lists(self, seed: int) -> dict[str, list[str]]:
        return choice_lists(seed)

    def consolidate(self, dream: str, at: float, upto: float | None = None) -> int:
        return 0

    def touch_turn(self, at: float) -> None:
        self._clock["last_turn"] = at

    def start_work(self, at: float) -> None:
        self._clock["work_started"] = at

    def clock(self) -> dict:
        return dict(self._clock)

    def add_usage(self, decisions: int, tokens: int, prompt_tokens: int = 0, restarts: int = 0) -> None:
        self.usage.update(decisions=decisions, tokens=tokens, prompt_tokens=prompt_tokens, restarts=restarts)

    def counters(self) -> dict:
        return {name: self.usage[name] for name in USAGE_FIELDS}

    def save_budget(self, state: dict) -> None:
        self.budget = state
