"""What an agent's model reads each turn, and nothing more.

The prompt holds only facts: the manual of the op-code language, the agent's own memory, its canvas, its
state and the clock. It never says what to make or to feel. Parts are ordered from what changes least to
what changes most (manual, memory, canvas, state, clock), so consecutive prompts share a long prefix and
llama.cpp reuses its KV cache for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from proto.ops.manual import manual

MANUAL = manual()


def span(seconds: float | None) -> str:
    """A duration as a person would say it: '4 s', '3 min', '2 h 5 min', '3 days 4 h'."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


@dataclass
class Turn:
    """Everything one prompt is built from."""

    name: str
    view: str
    state: dict[str, Any]
    memory: str = ""
    last_notes: list[str] = field(default_factory=list)
    last_result: str = ""
    now: float = field(default_factory=time.time)
    last_turn: float | None = None
    work_started: float | None = None
    first_woke: float | None = None


def system_text(name: str) -> str:
    return f"You are {name}, in Aurora. You have a canvas and notes to play. Nobody asks anything of you.\n\n{MANUAL}"


def user_text(turn: Turn) -> str:
    st = turn.state
    parts = []
    if turn.memory:
        parts.append(f"Your memory:\n{turn.memory}")
    parts.append(f"Your canvas (work {st['work']}):\n{turn.view}")
    notes = ", ".join(turn.last_notes) if turn.last_notes else "none yet"
    parts.append(
        f"State: cursor x={st['cursor'][0]} y={st['cursor'][1]}; pen {st['pen']}; color {st['color']}; "
        f"brush {st['brush']}; tempo {st['tempo']}; title {st['title']!r}; feeling {st['feel'] or 'unnamed'}.\n"
        f"Last notes: {notes}."
    )
    if turn.last_result:
        parts.append(f"Last turn: {turn.last_result}")
    when = time.strftime("%Y-%m-%d %H:%M UTC (%A)", time.gmtime(turn.now))
    since = lambda t: span(turn.now - t) if t is not None else "never"  # noqa: E731
    parts.append(f"Clock: {when}. Since your last turn: {since(turn.last_turn)}. This work began "
                 f"{since(turn.work_started)} ago. You first woke {since(turn.first_woke)} ago.")
    return "\n\n".join(parts)


def fit(build: Callable[[int], str], count_tokens: Callable[[str], int], budget: int,
        memory_chars: int) -> tuple[str, int]:
    """The prompt built with as much memory as fits `budget` tokens: halve the memory until it fits.

    `build(chars)` renders the prompt with at most `chars` characters of memory. Returns (prompt, tokens).
    Raises ValueError when even no memory does not fit (the context is too small for the canvas).
    """
    chars = memory_chars
    while True:
        prompt = build(chars)
        tokens = count_tokens(prompt)
        if tokens <= budget:
            return prompt, tokens
        if chars == 0:
            raise ValueError(f"the prompt needs {tokens} tokens without memory, over the {budget} available: "
                             "raise `context` in the roster or make the canvas smaller")
        chars = chars // 2 if chars > 64 else 0
