"""Applying events to canvases (PROTOCOL.md section 5), one copy for every reader of the events.

A live replica (`services.canvas.replica`) and the record's replay (`services.recorder.archive`) rebuild the
studio's canvases from its events with `apply_event`, so both follow the same rules as the canvas service:
every event that carries an op is applied with `CanvasModel.apply_text`, and `new` begins a canvas or a work.
"""

from __future__ import annotations

import re
from typing import Any

from proto.canvas import CanvasModel
from proto.ops.parser import Op
from proto.ops.table import OPS

# A feeling as the op language has ever taken it (since protocol 1.6, a word of `proto.ops.words`).
RECORDED_FEELING = re.compile(rf"[a-z]{{1,{OPS['feel'].args[0].max_len}}}")

# The kinds whose `data` carries the `op` that caused them (section 5). Applying their ops in sequence order
# rebuilds an agent's canvas. A kind not listed here is not applied, even if it carries an `op`: a kind added
# later (say, a `rejected` op) is ignored by an older reader rather than misapplied.
OP_KINDS = frozenset({"stroke", "move", "tool", "note", "rest", "tempo", "feel", "title", "done"})

# The kinds whose `data` the canvas sends beside the envelope in a `record` batch (section 11): what the
# recorder derives the study's keys from, so that it decodes no envelope of the others.
# The kinds that change the salon's board (PROTOCOL.md section 14; services/salon/board.py).
BOARD_KINDS = frozenset({"post", "reply", "react"})
RECORD_DATA_KINDS = frozenset({"note", "feel", "done", "statement", "new", "rejected"}) | BOARD_KINDS


def rejected_lines(data: dict[str, Any]) -> dict[str, int]:
    """The refused lines a `rejected` event stands for, by code (section 5): its one line, or, for the event that
    sums a flood of them (`count`), its `codes`. A record is read as it was written: what is not a count counts 1."""
    codes = data.get("codes")
    if isinstance(codes, dict) and codes and all(isinstance(k, str) and type(n) is int and n > 0
                                                 for k, n in codes.items()):
        return dict(codes)
    return {str(data.get("code") or "unknown"): 1}


def record_item(seq: int, agent: str, kind: str, data: dict[str, Any], envelope: bytes) -> list:
    """One event of a `record` batch: [seq, agent, kind, data or None, envelope] (PROTOCOL.md section 11)."""
    return [seq, agent, kind, data if kind in RECORD_DATA_KINDS else None, envelope]


def apply_event(canvases: dict[str, CanvasModel], body: dict[str, Any]) -> None:
    """Apply one event's body (`seq`, `agent`, `kind`, `data`) to `canvases`, a canvas per agent.

    `new` creates the agent's canvas at the given size, or starts the given work on the one it has. Kinds
    that change no canvas (joined, status, statement, ...) and kinds this code does not know are ignored.
    Raises ValueError for an event that cannot be applied (its op missing or not an op, no canvas yet for
    the agent, a size that cannot be); the canvases are then unchanged.
    """
    agent, kind, data = body["agent"], body["kind"], body["data"]
    if kind in OP_KINDS:
        canvas = canvases.get(agent)
        if canvas is None:
            raise ValueError(f"{kind} event for {agent!r}, who has no canvas yet")
        if kind == "feel":  # the word as recorded: a feeling of a record made before feelings had to be
            word = data.get("feel")  # dictionary words is no op of today's language, yet it was applied
            if not isinstance(word, str) or not RECORDED_FEELING.fullmatch(word):
                raise ValueError(f"feel event without a feeling: {str(word)[:40]!r}")
            canvas.apply(Op("feel", (word,)))
            return
        op = data.get("op")
        if not isinstance(op, str):
            raise ValueError(f"{kind} event without an op")
        canvas.apply_text(op)
    elif kind == "new":
        try:
            work, width, height = int(data["work"]), int(data["width"]), int(data["height"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"new event without a work and size: {exc!r}") from None
        canvas = canvases.get(agent)
        if canvas is None:
            canvas = canvases[agent] = CanvasModel(width, height)  # a size that cannot be raises ValueError
        if canvas.work != work:
            canvas.new_work(work)
