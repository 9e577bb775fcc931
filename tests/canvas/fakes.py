"""A fake transport for the canvas handlers: an inbox we feed and an outbox we read."""

from __future__ import annotations

import msgpack

from proto.envelope import Message, decode, encode
from proto.topics import decode_published
from services.canvas.sessions import Sessions
from services.canvas.studio import Studio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Message]] = []
        self.answered: list[tuple[bytes, Message]] = []
        self.published: list[tuple[str, Message]] = []  # events only
        self.ticks: list[tuple[str, Message]] = []
        self.recorded: list[tuple[bytes, Message]] = []  # to the recorder
        self.recorder_reachable = True

    def send(self, route: bytes, frame: bytes) -> None:
        self.sent.append((route, decode(frame, limit=1 << 24)))

    def answer(self, route: bytes, frame: bytes) -> None:
        self.answered.append((route, decode(frame, limit=1 << 24)))

    def publish(self, frames: list[bytes]) -> None:
        msg = decode_published(frames)
        (self.ticks if msg.type == "tick" else self.published).append((frames[0].decode(), msg))

    def record(self, route: bytes, frame: bytes) -> bool:
        if not self.recorder_reachable:
            return False
        self.recorded.append((route, decode(frame, limit=1 << 28)))
        return True

    def last(self, route: bytes) -> Message:
        return [m for r, m in self.sent if r == route][-1]

    def events(self, kind: str | None = None) -> list[Message]:
        return [m for _, m in self.published if kind is None or m.body["kind"] == kind]


class Harness:
    """A Studio on a fake transport and a fake clock, with helpers to speak as an agent (and as a recorder).
    Volatile unless asked for `durable=True`: most handler tests are about the canvas alone."""

    def __init__(self, durable: bool = False, **studio_options) -> None:
        self.clock = FakeClock()
        self.outbox = FakeOutbox()
        sessions = Sessions(interval=1.0, liveness=3, remove_after=10)
        self.studio = Studio(self.outbox, sessions=sessions, clock=self.clock, durable=durable, **studio_options)

    def frame(self, route: bytes, frame: bytes) -> Message | None:
        """Feed one frame; the last message then sent to `route`, or None if this frame caused none (yet)."""
        before = len(self.outbox.sent)
        self.studio.on_agent_frames([route, frame])
        return self.outbox.last(route) if any(r == route for r, _ in self.outbox.sent[before:]) else None

    def send(self, route: bytes, msg_type: str, body: dict, sender: str) -> Message:
        return self.frame(route, encode(Message(msg_type, body, sender)))

    def hello(self, route: bytes, agent: str, protocol: str = "1.0") -> Message:
        return self.send(route, "hello", {"agent": agent, "protocol": protocol}, agent)

    def ops(self, route: bytes, agent: str, text: str) -> Message:
        return self.send(route, "ops", {"text": text}, agent)


    def as_recorder(self, msg_type: str, body: dict, route: bytes = b"rec") -> None:
        self.studio.on_record_frames([route, encode(Message(msg_type, body, "recorder"))])


def raw(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)
