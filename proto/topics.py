"""PUB topics (PROTOCOL.md section 5) and the encoding of events onto the events socket."""

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
    "note": "note.{agent}",
    "rest": "music.{agent}.rest",
    "tempo": "music.{agent}.tempo",
    "feel": "agent.{agent}.feel",
    "joined": "agent.{agent}.joined",
    "missing": "agent.{agent}.missing",
    "left": "agent.{agent}.left",
    "status": "agent.{agent}.status",
    "statement": "work.{agent}.statement",
    "title": "work.{agent}.title",
    "done": "work.{agent}.done",
}


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


def decode_event(frames: list[bytes]) -> Message:
    """Two frames to an `event` message; raises a ProtocolError for anything else."""
    if len(frames) != 2:
        raise EnvelopeError(f"an event has 2 frames (topic, envelope), got {len(frames)}")
    msg = decode(frames[1], limit=1 << 24, accept=frozenset({"event"}))
    if msg.body["kind"] not in TOPICS:
        raise EnvelopeError(f"unknown event kind {msg.body['kind'][:40]!r}", parent_id=msg.id)
    return msg
