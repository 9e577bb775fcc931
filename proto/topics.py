"""PUB topics (PROTOCOL.md section 5) and the encoding of events and ticks onto the events socket."""

from __future__ import annotations

import functools
from typing import Any

from proto.envelope import Message, decode, encode_fields
from proto.errors import EnvelopeError

TOPICS: dict[str, str] = {
    "stroke": "canvas.{agent}.stroke",
    "move": "canvas.{agent}.move",
    "tool": "canvas.{agent}.tool",
    "new": "canvas.{agent}.new",
    "rejected": "canvas.{agent}.rejected",
    "note": "note.{agent}",
    "rest": "music.{agent}.rest",
    "tempo": "music.{agent}.tempo",
    "feel": "agent.{agent}.feel",
    "joined": "agent.{agent}.joined",
    "missing": "agent.{agent}.missing",
    "left": "agent.{agent}.left",
    "status": "agent.{agent}.status",
    "statement": "work.{agent}.statement",
    "echo": "work.{agent}.echo",
    "title": "work.{agent}.title",
    "done": "work.{agent}.done",
    # The salon (services/salon): an agent's post, reply and reaction, and the posts it was shown (`read`).
    "post": "salon.{agent}.post",
    "reply": "salon.{agent}.reply",
    "react": "salon.{agent}.react",
    "read": "salon.{agent}.read",
}

# The studio's pulse: the seq of the last event, every heartbeat interval. Not an event: it has no seq of its own.
# `studio` is a reserved agent name, so no agent's topic begins with it.
TICK_TOPIC = "studio.tick"
_TICK_FRAME = TICK_TOPIC.encode()


def topic(kind: str, agent: str) -> str:
    return TOPICS[kind].format(agent=agent)


@functools.lru_cache(maxsize=4096)
def _topic_frame(kind: str, agent: str) -> bytes:
    return topic(kind, agent).encode()


def encode_event(seq: int, agent: str, kind: str, data: dict[str, Any], sender: str = "canvas",
                 parent_id: str | None = None) -> list[bytes]:
    """The two frames of one event: topic and envelope. The canvas's hot path: no Message object."""
    body = {"seq": seq, "agent": agent, "kind": kind, "data": data}
    return [_topic_frame(kind, agent), encode_fields("event", body, sender, parent_id)]


def encode_tick(seq: int, sender: str = "canvas") -> list[bytes]:
    """The two frames of a tick: `seq` is the studio's current one, the seq of the last event published."""
    return [_TICK_FRAME, encode_fields("tick", {"seq": seq}, sender)]


_EVENT = frozenset({"event"})
_PUBLISHED = frozenset({"event", "tick"})


def decode_event(frames: list[bytes]) -> Message:
    """Two frames to an `event` message; raises a ProtocolError for anything else, a tick included."""
    return _decode_published(frames, _EVENT)


def decode_published(frames: list[bytes]) -> Message:
    """Two frames from the events socket to an `event` or a `tick` message; raises a ProtocolError otherwise."""
    return _decode_published(frames, _PUBLISHED)


def _decode_published(frames: list[bytes], accept: frozenset[str]) -> Message:
    if len(frames) != 2:
        raise EnvelopeError(f"the events socket sends 2 frames (topic, envelope), got {len(frames)}")
    msg = decode(frames[1], limit=1 << 24, accept=accept)
    if msg.type == "event" and msg.body["kind"] not in TOPICS:
        raise EnvelopeError(f"unknown event kind {msg.body['kind'][:40]!r}", parent_id=msg.id)
    return msg
