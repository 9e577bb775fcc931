"""The gateway's WebSocket messages (PROTOCOL.md section 12): JSON text, one object a frame.

Each builder returns the text itself, so that a message is encoded once and the same string is queued to
every viewer. Every object has a `type`: `snapshot`, `event`, `work`, `salon` (1.8) or `resync`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from proto.ops.table import BLANK, COLOURS
from proto.version import PROTOCOL_VERSION

# Colour code -> "#rrggbb" for the page; a blank cell is null (the page shows its paper).
PALETTE: dict[str, str | None] = {**{c.code: c.rgb for c in COLOURS.values()}, BLANK: None}
# Colour name -> code: a `stroke` names its colour, the cells hold codes.
COLORS: dict[str, str] = {name: c.code for name, c in COLOURS.items()}

# `default=str`: a value JSON has no type for (bytes, say) is shown as text rather than failing the stream.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str).encode


def _dumps(obj: Any) -> str:
    try:
        return _encode(obj)
    except ValueError:  # NaN or an infinity (an agent's `until`, say): JSON has none, browsers refuse them
        return _encode(_finite(obj))


def _finite(obj: Any) -> Any:
    """`obj` with every float that is not finite replaced by null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def event(body: dict[str, Any], time: float) -> str:
    """An event of section 5 as the canvas published it (`seq`, `agent`, `kind`, `data`) and its `time`."""
    return _dumps({"type": "event", "seq": body["seq"], "agent": body["agent"], "kind": body["kind"],
                   "data": body["data"], "time": time})


def snapshot(seq: int, canvases: dict[str, dict[str, Any]], works: list[dict[str, Any]], mode: str = "isolated",
             salon: dict[str, Any] | None = None) -> str:
    """The studio at `seq`: every canvas map (section 4, with `status` and `activity`), the palette, the
    latest finished works, newest first, the studio's mode and, in a salon, its board (`seq`, `posts`)."""
    body = {"type": "snapshot", "protocol": PROTOCOL_VERSION, "seq": seq, "canvases": canvases, "palette": PALETTE,
            "colors": COLORS, "works": works, "mode": mode}
    if salon is not None:
        body["salon"] = salon
    return _dumps(body)


def salon(seq: int, post: dict[str, Any]) -> str:
    """A post of the salon as it is after the event `seq` (its `post`, a `reply` or a `react`) changed it."""
    return _dumps({"type": "salon", "seq": seq, "post": post})


def work(item: dict[str, Any]) -> str:
    """One finished work (`agent`, `work`, `title`, `statement`, `done_seq`, `png`)."""
    return _dumps({"type": "work", **item})


def resync(reason: str) -> str:
    return _dumps({"type": "resync", "reason": reason})


def png_path(agent: str, work_number: int) -> str:
    """The URL path of a finished work's image (services/audio_gateway/api.py serves it)."""
    return f"/api/works/{agent}/{work_number}.png"
