"""The agent's client against a stand-in canvas on a real socket, scripted to misbehave: a decision that is never
answered times out and resyncs (a `wait` lifts the timeout), and the refusals only a fresh start helps (`internal`,
`decision_in_flight`) or that say when to come back (`rate_limited`) come out as the caller can act on them."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from proto.canvas import CanvasModel
from proto.envelope import Message, decode, encode
from proto.errors import CODES
from proto.version import PROTOCOL_VERSION
from services.canvas.client import CanvasClient, CanvasGone, RateLimited

INTERVAL = 0.2


class StandInCanvas(threading.Thread):
    """NOT the canvas: welcomes any hello, heartbeats, and answers each `ops` with `answer(msg)`: a list of
    (delay, Message) to send, [] for no answer at all."""

    def __init__(self, ctx: zmq.Context, answer):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.address = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"
        self.answer, self.heard, self.routes = answer, [], set()
        self.due: list[tuple[float, bytes, Message]] = []
        self.done = threading.Event()

    def run(self) -> None:
        beat = 0.0
        while not self.done.is_set():
            if self.sock.poll(20):
                route, frame = self.sock.recv_multipart()
                msg = decode(frame)
                self.heard.append(msg.type)
                self.routes.add(route)
                if msg.type == "hello":
                    self._send(route, msg.reply("welcome", _welcome(msg.sender), "canvas"))
                elif msg.type == "ops":
                    now = time.monotonic()
                    self.due += [(now + delay, route, reply) for delay, reply in self.answer(msg)]
            now = time.monotonic()
            for item in [d for d in self.due if d[0] <= now]:
                self.due.remove(item)
                self._send(item[1], item[2])
            if now - beat >= INTERVAL / 2:
                beat = now
                for route in self.routes:
                    self._send(route, Message("heartbeat", {}, "canvas"))
        self.sock.close(0)

    def _send(self, route: bytes, msg: Message) -> None:
        self.sock.send_multipart([route, encode(msg)])


def _welcome(agent: str) -> dict:
    canvas = CanvasModel()
    return {"agent": agent, "protocol": PROTOCOL_VERSION, "width": canvas.width, "height": canvas.height,
            "view": canvas.view(), "state": canvas.state(), "cells": list(canvas.rows()), "seq": 0,
            "heartbeat_interval": INTERVAL, "liveness": 3}


def _error(msg: Message, code: str, **extra) -> Message:
    return msg.reply("error", {"code": code, "number": CODES[code], "reason": "scripted", **extra}, "canvas")


def _result(msg: Message) -> Message:
    canvas = CanvasModel()
    return msg.reply("result", {"applied": [], "rejected": [], "notes": [], "view": canvas.view(),
                                "state": canvas.state(), "cells": list(canvas.rows()), "seq": 1}, "canvas")


@pytest.fixture
def connected(ctx):
    """connected(answer) -> (a stand-in canvas answering ops with `answer`, a client welcomed by it)."""
    made: list[tuple[StandInCanvas, CanvasClient]] = []

    def connect(answer) -> tuple[StandInCanvas, CanvasClient]:
        canvas = StandInCanvas(ctx, answer)
        canvas.start()
        client = CanvasClient("ada", canvas.address, context=ctx, proof="unchecked here")
        made.append((canvas, client))
        client.connect(timeout=5)
        return canvas, client

    yield connect
    for canvas, client in made:
        client.close(bye=False)
        canvas.done.set()
        canvas.join(5)


def test_a_decision_never_answered_times_out_says_bye_and_the_agent_resyncs(connected):
    canvas, client = connected(lambda msg: [])
    started = time.monotonic()
    with pytest.raises(CanvasGone, match="no reply"):
        client.decide("pen down", timeout=2.0)
    assert 2.0 <= time.monotonic() - started < 7.0  # heartbeats did not keep it waiting
    time.sleep(0.2)  # the bye is on its way
    assert "bye" in canvas.heard
    client.connect(timeout=5)  # the resync: a new hello
    assert canvas.heard.count("hello") == 2


def test_a_wait_for_the_decision_lifts_the_timeout_and_its_reply_is_taken_when_it_comes(connected):
    canvas, client = connected(lambda msg: [(0.1, msg.reply("wait", {"reason": "recording"}, "canvas")),
                                                  (3.0, _result(msg))])
    assert client.decide("pen down", timeout=1.0)["seq"] == 1 and client.waits == 1


@pytest.mark.parametrize("code", ["internal", "decision_in_flight"])
def test_a_refusal_only_a_new_hello_helps_is_a_resync(connected, code):
    canvas, client = connected(lambda msg: [(0, _error(msg, code))])
    with pytest.raises(CanvasGone, match=code):
        client.decide("pen down")
    client.connect(timeout=5)


def test_rate_limited_says_when_to_come_back(connected):
    canvas, client = connected(lambda msg: [(0, _error(msg, "rate_limited", retry_after=12.5))])
    with pytest.raises(RateLimited) as refused:
        client.decide("pen down")
    assert refused.value.retry_after == 12.5 and refused.value.code == "rate_limited"
