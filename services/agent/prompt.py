"""What an agent's model reads, and nothing more: the turn, and the three questions (title, statement, dream).

A turn holds only facts: the manual of the op-code language (its lists in the agent's own order), the
agent's own memory as it is now, its canvas, its state and the clock. It never says what to make or to feel,
and shows no example value (tests/agent/test_prompt_values.py renders every kind for both bundled models).
Parts are ordered from what changes least to what changes most (manual, memory, canvas, state, clock), so
consecutive prompts share a long prefix and llama.cpp reuses its KV cache for it.

A turn is read once in full, when the agent's context starts (its first turn, or when the context is full:
services/agent/context.py); each later turn is only what is new since the one before (`news_text`): what
the canvas did with the ops, the rows that changed (the whole canvas when a work begins, when most rows
changed, or when the model asked to `look`), the state's fields that changed and the clock. Everything
before it is already in the model's context and KV cache, its own ops included.

In a salon (services/salon) a turn also holds what other agents posted, replied and reacted: the latest at the
start of a context, what is new in each later turn. Those lines are the work of others, cleaned and quoted
(`salon_text`), and say nothing about what to do with them.

Each question has its own shape, with no manual and no op cue: the finished work (or the memories) and
then the field the answer fills (`Title:`, `Statement:`, `Condensed, ...:`), so that a base model reads a
document that continues with the answer and a chat model one message that asks it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from proto.ops.manual import manual
from proto.ops.table import BLANK, COLOURS
from services.salon.quoting import clean, quoted

RAW_CUE = "Ops:"  # for a base model, the line after which a turn's op-codes naturally follow


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
    base_view: str | None = None  # the canvas shown in full (None or equal to `view`: the view itself)
    base_time: float | None = None  # when it was so
    salon: list[dict[str, Any]] = field(default_factory=list)  # the latest of the salon, by others (salon mode)


def system_text(name: str, lists: dict[str, list[str]] | None = None, salon: bool = False) -> str:
    """The turn's system text: who it is, and the manual with its lists in this agent's own order (in a salon,
    with the salon's ops, and the fact that others are there)."""
    others = " Other agents are in Aurora too; the salon shows the works they post." if salon else ""
    return f"You are {name}, in Aurora. You have a canvas and notes to play. Nobody asks anything of you.{others}" \
           f"\n\n{manual(lists, salon=salon)}"


SALON_HEAD = "Salon (the works and words of other agents, quoted):"


def salon_text(items: list[dict[str, Any]]) -> str:
    """The salon's items as a model reads them: each line begins with `>`, each text of another agent is
    cleaned and quoted (services/salon/quoting.py), so nothing in it reads as an op or a part of the prompt."""
    lines = [SALON_HEAD]
    for item in items:
        author, post = clean(item.get("agent"), 32), item.get("post")
        on = f"post {post} ({quoted(item.get('on'))})"
        if item.get("kind") == "post":
            reactions = item.get("reactions") or {}
            heard = "; reactions: " + ", ".join(f"{quoted(w, 24)} {n}" for w, n in sorted(reactions.items())) \
                if reactions else ""
            lines.append(f"> post {post} by {author}: work {item.get('work')}, titled {quoted(item.get('title'))}"
                         f"{heard}")
            lines += [f">   {clean(row, 64)}" for row in item.get("thumb") or []]
        elif item.get("kind") == "reply":
            lines.append(f"> reply to {on} by {author}: {quoted(item.get('text'))}")
        elif item.get("kind") == "react":
            lines.append(f"> reaction to {on} by {author}: {quoted(item.get('word'), 24)}")
    return "\n".join(lines)


def question_system(name: str) -> str:
    """The system text of a question (title, statement, dream): no manual, since no op is asked for."""
    return f"You are {name}, in Aurora."


def _quoted(text: str | None) -> str:
    return f'"{text}"' if text else "none"


STATE_FIELDS = ("cursor", "pen", "color", "brush", "tempo", "title", "feel")


def _state_field(name: str, st: dict[str, Any]) -> str:
    if name == "cursor":
        return f"cursor x={st['cursor'][0]} y={st['cursor'][1]}"
    if name == "title":
        return f"title {_quoted(st['title'])}"
    if name == "feel":
        return f"feeling {st['feel'] or 'none'}"
    return f"{'colour' if name == 'color' else name} {st[name]}"


def state_line(st: dict[str, Any], fields: tuple[str, ...] = STATE_FIELDS) -> str:
    """The tools and the work's title and feeling (or those of `fields`), as plain text (`title none`,
    `title "..."`)."""
    return "State: " + "; ".join(_state_field(name, st) for name in fields) + "."


def _canvas(st: dict[str, Any], view: str) -> str:
    return f"Your canvas (work {st['work']}):\n{view}"


def user_text(turn: Turn) -> str:
    st = turn.state
    parts = []
    if turn.memory:
        parts.append(f"Your memory:\n{turn.memory}")
    if turn.salon:
        parts.append(salon_text(turn.salon))
    rows = None if not turn.base_view or turn.base_view == turn.view else changed_rows(turn.base_view, turn.view)
    if rows is None:
        parts.append(_canvas(st, turn.view))
    else:  # the base stays the same from turn to turn (and in the KV cache); what changed since comes after it
        at = time.strftime("%H:%M:%S", time.gmtime(turn.base_time)) if turn.base_time is not None else "earlier"
        parts.append(f"Your canvas (work {st['work']}) at {at} UTC:\n{turn.base_view}\n\n"
                     f"Rows changed since:\n" + "\n".join(rows))
    notes = ", ".join(turn.last_notes) if turn.last_notes else "none yet"
    parts.append(f"{state_line(st)}\nLast notes: {notes}.")
    if turn.last_result:
        parts.append(f"Last turn: {turn.last_result}")
    when = time.strftime("%Y-%m-%d %H:%M UTC (%A)", time.gmtime(turn.now))
    since = lambda t: span(turn.now - t) if t is not None else "never"  # noqa: E731
    ago = lambda t: f"{span(turn.now - t)} ago" if t is not None else "never"  # noqa: E731
    parts.append(f"Clock: {when}. Since your last turn: {since(turn.last_turn)}. This work began: "
                 f"{ago(turn.work_started)}. You first woke: {ago(turn.first_woke)}.")
    return "\n\n".join(parts)


@dataclass
class News:
    """What changed since the model last read its canvas, for a turn that continues its context."""

    result: str                  # what the canvas did with the last ops
    view: str                    # the canvas now
    seen_view: str               # the canvas as the model last read it
    state: dict[str, Any]
    seen_state: dict[str, Any]
    now: float
    last_turn: float | None
    finished: list[str] = field(default_factory=list)  # one line per work finished in the last turn
    look: bool = False           # the model asked to see its whole canvas
    salon: list[dict[str, Any]] = field(default_factory=list)  # what others did in the salon since
    seen_time: float | None = None  # when the model last read the clock (None: never)


def changed_rows(seen: str, now: str) -> list[str] | None:
    """The lines of the view `now` that differ from `seen` (each keeps its row number when coordinates are
    shown), or None when the whole view should be shown again: a different size or most rows changed."""
    before, after = seen.split("\n"), now.split("\n")
    if len(before) != len(after):
        return None
    changed = [line for old, line in zip(before, after) if old != line]
    return None if len(changed) * 2 > len(after) else changed


def news_text(news: News) -> str:
    """A later turn: only what is new. A work that begins is shown whole, like the canvas at the start."""
    st = news.state
    parts = [f"Last turn: {news.result}."] + news.finished
    if news.salon:
        parts.append(salon_text(news.salon))
    rows = None if news.look or st["work"] != news.seen_state.get("work") else changed_rows(news.seen_view, news.view)
    if rows is None:
        parts.append(_canvas(st, news.view))
    elif rows:
        parts.append("Changed rows:\n" + "\n".join(rows))
    moved = tuple(f for f in STATE_FIELDS if st.get(f) != news.seen_state.get(f))
    if moved:
        parts.append(state_line(st, moved))
    clock = clock_news(news.now, news.last_turn, news.seen_time)
    return "\n".join(parts + [clock] if clock else parts)


def clock_news(now: float, last_turn: float | None, seen_time: float | None = None) -> str:
    """The clock in a later turn, to the minute as at the context's start, said when its minute is not the one
    the model last read (`seen_time`), else nothing: a turn takes about a second, and the clock's ~14 tokens
    in every one cost small models more than what they write. The date was read at the context's start and is
    said again on a new day; the time since the last turn is said when it is a minute or more."""
    if seen_time is not None and int(now // 60) == int(seen_time // 60):
        return ""
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    read = seen_time if seen_time is not None else last_turn  # the day the model last read
    new_day = read is None or time.strftime("%Y-%m-%d", time.gmtime(read)) != day
    line = "Clock: " + time.strftime("%Y-%m-%d %H:%M (%A)" if new_day else "%H:%M", time.gmtime(now)) + " UTC"
    if last_turn is not None and now - last_turn >= 60:
        line += f"; {span(now - last_turn)} since your last turn"
    return line + "."


def legend(rows: list[str], colours: list[str]) -> str:
    """The colours a finished canvas holds, letter first, in the agent's own order of its colour list."""
    present = set("".join(rows))
    shown = [f"{COLOURS[name].code} {name}" for name in colours if COLOURS[name].code in present]
    return "Colours: " + ", ".join(shown + [f"{BLANK} blank"]) + "."


def finished_work(name: str, work: int, view: str, legend_line: str) -> str:
    return f"Work {work} by {name}, finished:\n{view}\n{legend_line}"


def title_text(name: str, work: int, view: str, legend_line: str) -> str:
    """The title question: the finished work, then the field its answer fills (a document that continues
    with the answer for a base model, the same text as one message for a chat model)."""
    return f"{finished_work(name, work, view, legend_line)}\n\nTitle:"


def statement_text(name: str, work: int, title: str | None, view: str, legend_line: str) -> str:
    """The statement question, on the canvas as it is after `done`, with its title."""
    return f"{finished_work(name, work, view, legend_line)}\n\nTitle: {title or 'none'}\nStatement:"


def dream_text(name: str, memories: list[str], lines: int) -> str:
    """The dream: the memories it condenses, then the field its answer fills."""
    listed = "\n".join(f"- {m}" for m in memories)
    return f"Memories of {name}:\n{listed}\n\nCondensed, in at most {lines} lines:"


class PromptTooLong(ValueError):
    """Even the smallest form of a prompt does not fit the context."""


def fit(build: Callable[[int], str], count_tokens: Callable[[str], int], budget: int, size: int, *,
        smallest: int = 0, floor: int = 64) -> tuple[str, int, int]:
    """The prompt built with as much of its variable part as fits `budget` tokens: halve it until it fits.

    `build(size)` renders the prompt with at most `size` of its variable part (characters of memory, or
    memories to condense); below `floor` the next try is `smallest`. Returns (prompt, tokens, size).
    Raises PromptTooLong when even `smallest` does not fit.
    """
    while True:
        prompt = build(size)
        tokens = count_tokens(prompt)
        if tokens <= budget:
            return prompt, tokens, size
        if size <= smallest:
            raise PromptTooLong(f"the prompt needs {tokens} tokens at its smallest, over the {budget} available: "
                                "raise `context` in the roster or make the canvas smaller")
        size = size // 2 if size // 2 >= floor else smallest
