"""The canvas model: the rules by which ops change one agent's canvas.

The canvas service applies ops with it (authoritatively); late-joining viewers and the recorder's replay
apply the `op` of each event with the same rules, which is why it lives in proto/ and not in a service.
Everything here is deterministic: the same ops on the same canvas give the same canvas.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from proto.ops.parser import Op, Rejection, parse_line, pitch_to_midi
from proto.ops.table import (AGENT_LOCAL_OPS, BLANK, BRUSHES, CODE_TO_COLOUR, COLOURS, DIRECTIONS, DURATIONS,
                             SALON_OPS)

DEFAULT_WIDTH = 32
DEFAULT_HEIGHT = 16
MAX_WIDTH = 128
MAX_HEIGHT = 64

Event = tuple[str, dict[str, Any]]  # (kind, data), PROTOCOL.md section 5


def digest_of(canvas: dict[str, Any]) -> str:
    """`CanvasModel.digest()` of a canvas given as its `to_dict()`."""
    canonical = json.dumps(canvas, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class CanvasModel:
    def __init__(self, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT):
        if not (1 <= width <= MAX_WIDTH and 1 <= height <= MAX_HEIGHT):
            raise ValueError(f"canvas size must be 1..{MAX_WIDTH} x 1..{MAX_HEIGHT}, got {width}x{height}")
        self.width = width
        self.height = height
        self.color = "black"
        self.brush = "dot"
        self.tempo = 100
        self.feel: str | None = None
        self.ops = 0
        self.work = 0
        self.new_work(1)

    # -- state -------------------------------------------------------------------------------------

    def new_work(self, work: int) -> None:
        """A blank canvas for work number `work`; the tools (colour, brush, tempo) carry over."""
        self.work = work
        self.cells = [[BLANK] * self.width for _ in range(self.height)]
        self._rows: list[str | None] = [None] * self.height  # cached row strings, None when dirty
        self.cursor = (self.width // 2, self.height // 2)
        self.pen = "up"
        self.title: str | None = None

    def state(self) -> dict[str, Any]:
        return {
            "cursor": list(self.cursor),
            "pen": self.pen,
            "color": self.color,
            "brush": self.brush,
            "tempo": self.tempo,
            "work": self.work,
            "title": self.title,
            "feel": self.feel,
            "ops": self.ops,
        }

    def rows(self) -> list[str]:
        rows = self._rows
        for y, row in enumerate(rows):
            if row is None:
                rows[y] = "".join(self.cells[y])
        return rows  # type: ignore[return-value]

    def painted(self) -> bool:
        """Whether any cell of the current work is painted."""
        return any(row.strip(BLANK) for row in self.rows())

    def refusal(self, op: Op) -> Rejection | None:
        """The rejection of `op` when the rules refuse it on this canvas as it is now, else None. A refused op
        changes nothing and causes no event but its `rejected`."""
        if op.name == "done" and not self.painted():
            return Rejection(op.text, "empty_work", "done refused: this work has no painted cell yet")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "cells": list(self.rows()), "state": self.state()}

    def digest(self) -> str:
        """SHA-256 (hex) of to_dict() as JSON with sorted keys: canvases in the same state have the same digest."""
        return digest_of(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CanvasModel":
        """The inverse of to_dict; raises ValueError (or KeyError/TypeError) for a canvas that cannot be."""
        model = cls(int(data["width"]), int(data["height"]))
        state = data["state"]
        model.new_work(int(state["work"]))
        rows = data["cells"]
        codes = set(CODE_TO_COLOUR) | {BLANK}
        if len(rows) != model.height or any(len(r) != model.width or not set(r) <= codes for r in rows):
            raise ValueError(f"cells do not make a {model.width}x{model.height} canvas of colour codes")
        model.cells = [list(row) for row in rows]
        model.cursor = (int(state["cursor"][0]), int(state["cursor"][1]))
        if not (0 <= model.cursor[0] < model.width and 0 <= model.cursor[1] < model.height):
            raise ValueError(f"cursor {model.cursor} is off the canvas")
        if state["color"] not in COLOURS or state["brush"] not in BRUSHES or state["pen"] not in ("up", "down"):
            raise ValueError("unknown colour, brush or pen state")
        if not all(v is None or type(v) is str for v in (state["title"], state["feel"])):
            raise ValueError("a title or a feeling is text or nil")  # else every view and API answer carries it
        model.pen, model.color, model.brush = state["pen"], state["color"], state["brush"]
        model.tempo, model.title, model.feel = int(state["tempo"]), state["title"], state["feel"]
        model.ops = int(state["ops"])
        return model

    def view(self, *, coords: bool = True, cursor: bool = True) -> str:
        """The ASCII view an agent reads: one line per row, never cut mid-row."""
        rows = list(self.rows())
        if cursor:
            x, y = self.cursor
            rows[y] = rows[y][:x] + "@" + rows[y][x + 1:]
        if not coords:
            return "\n".join(rows)
        head, prefixes = _frame(self.width, self.height)
        return head + "\n".join(map(str.__add__, prefixes, rows))

    # -- ops ---------------------------------------------------------------------------------------

    def apply(self, op: Op) -> list[Event]:
        """Apply one op; return the events it causes, in order. An op that causes none is not counted, so
        a replica that sees only events counts the same."""
        if op.name in AGENT_LOCAL_OPS or op.name in SALON_OPS:  # the agent's own, or the salon's board's
            return []
        self.ops += 1
        return getattr(self, "_op_" + op.name)(op.text, *op.args)

    def apply_text(self, text: str) -> list[Event]:
        """Apply an op given as canonical text (as events carry it); raises ValueError if it is no op."""
        item = parse_line(text)
        if not isinstance(item, Op):
            raise ValueError(f"not an op: {text!r}: {item.reason}")
        return self.apply(item)

    def _stamp(self) -> list[list[int]]:
        x0, y0 = self.cursor
        code = COLOURS[self.color].code
        painted = []
        for dx, dy in BRUSHES[self.brush]:
            x, y = x0 + dx, y0 + dy
            if 0 <= x < self.width and 0 <= y < self.height:
                self.cells[y][x] = code
                self._rows[y] = None
                painted.append([x, y])
        return painted

    def _op_move(self, text: str, direction: str, steps: int) -> list[Event]:
        dx, dy = DIRECTIONS[direction]
        x, y = self.cursor
        painted: list[list[int]] = []
        for _ in range(steps):
            nx, ny = x + dx, y + dy
            if not (0 <= nx < self.width and 0 <= ny < self.height):
                break  # walls stop the cursor; they do not wrap
            x, y = nx, ny
            self.cursor = (x, y)
            if self.pen == "down":
                painted.extend(self._stamp())
        if self.pen == "down":
            return [("stroke", {"op": text, "cells": _unique(painted), "color": self.color, "cursor": [x, y]})]
        return [("move", {"op": text, "cursor": [x, y]})]

    def _op_pen(self, text: str, position: str) -> list[Event]:
        self.pen = position
        if position == "down":
            cells = self._stamp()
            return [("stroke", {"op": text, "cells": cells, "color": self.color, "cursor": list(self.cursor)})]
        return [self._tool_event(text)]

    def _op_color(self, text: str, colour: str) -> list[Event]:
        self.color = colour
        return [self._tool_event(text)]

    def _op_brush(self, text: str, shape: str) -> list[Event]:
        self.brush = shape
        return [self._tool_event(text)]

    def _tool_event(self, text: str) -> Event:
        return ("tool", {"op": text, "pen": self.pen, "color": self.color, "brush": self.brush})

    def _op_note(self, text: str, pitch: str, duration: str, velocity: int) -> list[Event]:
        return [("note", {"op": text, **self.note(pitch, duration, velocity)})]

    def note(self, pitch: str, duration: str, velocity: int) -> dict[str, Any]:
        """A note with the colour, brush and position active when it was played (what the study needs)."""
        x, y = self.cursor
        return {
            "pitch": pitch,
            "midi": pitch_to_midi(pitch),
            "duration": duration,
            "beats": DURATIONS[duration],
            "velocity": velocity,
            "tempo": self.tempo,
            "color": self.color,
            "brush": self.brush,
            "x": x,
            "y": y,
        }

    def _op_rest(self, text: str, duration: str) -> list[Event]:
        return [("rest", {"op": text, "duration": duration, "beats": DURATIONS[duration]})]

    def _op_tempo(self, text: str, bpm: int) -> list[Event]:
        self.tempo = bpm
        return [("tempo", {"op": text, "tempo": bpm})]

    def _op_feel(self, text: str, word: str) -> list[Event]:
        self.feel = word
        return [("feel", {"op": text, "feel": word})]

    def _op_title(self, text: str, title: str) -> list[Event]:
        self.title = title
        return [("title", {"op": text, "title": title})]

    def _op_done(self, text: str) -> list[Event]:
        done = ("done", {"op": text, "work": self.work, "title": self.title, "cells": list(self.rows())})
        self.new_work(self.work + 1)
        return [done, ("new", {"work": self.work, "width": self.width, "height": self.height})]


@functools.lru_cache(maxsize=16)
def _frame(width: int, height: int) -> tuple[str, tuple[str, ...]]:
    """The column numbers line and the row number prefixes of a view (made once per canvas size)."""
    head = "   " + "".join(str(x % 10) for x in range(width)) + "\n"
    return head, tuple(f"{y:2d} " for y in range(height))


def _unique(cells: list[list[int]]) -> list[list[int]]:
    seen: set[tuple[int, int]] = set()
    out = []
    for x, y in cells:
        if (x, y) not in seen:
            seen.add((x, y))
            out.append([x, y])
    return out
