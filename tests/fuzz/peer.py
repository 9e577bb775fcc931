"""A hostile peer on one of the canvas's ZeroMQ sockets, and the checks on what the canvas answered it."""

from __future__ import annotations

from collections import Counter

import zmq

from proto.envelope import Message, decode
from proto.errors import CODES
from tests.fuzz.hostile import Hostile


class Peer:
    """One DEALER connection (with CurveZMQ keys if given); replies decoded by proto, whatever their size."""

    def __init__(self, ctx: zmq.Context, address: str, curve=None):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        self.sock.connect(address)

    def send(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def reply(self, timeout: float = 15.0) -> Message | None:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return decode(self.sock.recv(), limit=1 << 28)

    def replies_until(self, parent_id: str, timeout: float = 15.0) -> list[Message]:
        """Every reply up to and including the one to `parent_id`."""
        out: list[Message] = []
        while not out or out[-1].parent_id != parent_id:
            reply = self.reply(timeout)
            assert reply is not None, f"no reply to {parent_id} within {timeout}s (after {[m.type for m in out]})"
            out.append(reply)
        return out

    def close(self) -> None:
        self.sock.close(0)


def clear_error(reply: Message, tally: Counter, codes: frozenset[str] = frozenset(CODES)) -> None:
    """`reply` is an error with one of `codes`, its number from the table; tallied by code."""
    assert reply.type == "error", (reply.type, reply.body)
    code = reply.body["code"]
    assert code in codes and reply.body["number"] == CODES[code], reply.body
    assert reply.body["reason"]
    tally[code] += 1


def refused(reply: Message | None, hostile: Hostile, tally: Counter) -> None:
    """A hostile frame got exactly its refusal: an error with one of the codes it may be refused with."""
    assert reply is not None, f"no answer to a {hostile.kind} frame"
    clear_error(reply, tally, hostile.codes)


def counted(counters: dict, tally: Counter) -> None:
    """The canvas counted every refusal its peers saw, and no handler crashed or failed on the way."""
    for code, n in tally.items():
        assert counters.get(f"error_{code}", 0) >= n, (code, n, counters)
    assert counters.get("handler_crashes", 0) == 0 and counters.get("handler_errors", 0) == 0, counters
