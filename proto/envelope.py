"""The envelope (PROTOCOL.md section 2): the only code that turns bytes into messages and back."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from proto.errors import DecodeError, EnvelopeError, FieldError, FrameTooLarge, UnknownTypeError
from proto.messages import SCHEMAS, check_body
from proto.version import PROTOCOL_VERSION

DEFAULT_FRAME_LIMIT = 64 * 1024

_ENVELOPE_FIELDS: dict[str, tuple[type, ...]] = {
    "version": (str,),
    "type": (str,),
    "id": (str,),
    "sender": (str,),
    "time": (float, int),
    "parent_id": (str, type(None)),
    "body": (dict,),
}


class _Ids:
    """Message ids: a per-process random prefix and a counter, cheaper than a uuid per message."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(5).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}-{next(self.counter)}"


_ids = _Ids()


@dataclass(slots=True)
class Message:
    type: str
    body: dict[str, Any]
    sender: str
    id: str = field(default_factory=_ids.next)
    parent_id: str | None = None
    time: float = field(default_factory=time.time)
    version: str = PROTOCOL_VERSION

    def reply(self, msg_type: str, body: dict[str, Any], sender: str) -> "Message":
        """A message caused by this one: its parent_id is this message's id."""
        return Message(msg_type, body, sender, parent_id=self.id)


_pack = msgpack.Packer(use_bin_type=True).pack


def encode(msg: Message) -> bytes:
    return _pack({"version": msg.version, "type": msg.type, "id": msg.id, "sender": msg.sender,
                  "time": msg.time, "parent_id": msg.parent_id, "body": msg.body})


def encode_fields(msg_type: str, body: dict[str, Any], sender: str, parent_id: str | None = None) -> bytes:
    """A new message's bytes straight from its fields, for hot paths that need no Message object."""
    return _pack({"version": PROTOCOL_VERSION, "type": msg_type, "id": _ids.next(), "sender": sender,
                  "time": time.time(), "parent_id": parent_id, "body": body})


def decode(frame: bytes, *, limit: int = DEFAULT_FRAME_LIMIT, accept: frozenset[str] | None = None) -> Message:
    """Bytes to a checked Message, or a ProtocolError saying what is wrong.

    `accept` limits the message types this receiver takes; others raise UnknownTypeError.
    """
    if len(frame) > limit:
        raise FrameTooLarge(f"frame of {len(frame)} bytes is over the limit of {limit}")
    try:
        raw = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise DecodeError(f"not msgpack: {type(exc).__name__}: {exc}"[:200]) from None
    if not isinstance(raw, dict):
        raise DecodeError(f"envelope must be a map, got {type(raw).__name__}")
    msg_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    for name, types in _ENVELOPE_FIELDS.items():
        value = raw.get(name, _MISSING) if name != "parent_id" else raw.get(name)
        if value is _MISSING:
            raise EnvelopeError(f"envelope field {name!r} is missing", parent_id=msg_id)
        if type(value) is bool or not isinstance(value, types):
            raise EnvelopeError(
                f"envelope field {name!r} has type {type(value).__name__}", parent_id=msg_id
            )
    if len(raw["id"]) > 64:
        raise EnvelopeError("envelope field 'id' is longer than 64", parent_id=None)
    msg_type = raw["type"]
    if msg_type not in SCHEMAS or (accept is not None and msg_type not in accept):
        raise UnknownTypeError(f"unknown message type {msg_type[:40]!r}", parent_id=msg_id)
    problem = check_body(msg_type, raw["body"])
    if problem:
        raise FieldError(problem, parent_id=msg_id)
    return Message(
        type=msg_type,
        body=raw["body"],
        sender=raw["sender"],
        id=raw["id"],
        parent_id=raw.get("parent_id"),
        time=float(raw["time"]),
        version=raw["version"],
    )


_MISSING = object()
