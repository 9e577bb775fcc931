"""The studio each door's batch is fuzzed against: a real durable canvas (as `aurora up` runs it on one host) with its
real recorder and Redis, and a good client, `ada`, that hellos properly and decides before and after the batch."""

from __future__ import annotations

import time

import pytest
import redis
import zmq

from services.canvas.client import CanvasClient
from tests.audio_gateway.support import gateway_process, scripted
from tests.support.curve import recorded_canvas
from tests.support.processes import stop

# The hostile agent's budget, enforced by the canvas (the good client is not in the roster: not limited).
ROSTER = '[[agent]]\nname = "mallory"\nmodel = "m"\n[agent.budget]\ndecisions_per_minute = 60\n'


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(0)


@pytest.fixture
def studio(tmp_path, monkeypatch, record_url, record_db):
    data = tmp_path / "data"
    monkeypatch.setenv("AURORA_DATA", str(data))
    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER)
    with recorded_canvas(data, record_url, "--roster", str(roster)) as running:
        yield running


class Good:
    """A client that follows the protocol: every decision applied as sent, and stored before its reply came."""

    def __init__(self, studio, ctx, db: redis.Redis, name: str = "ada"):
        self.db = db
        self.client = CanvasClient(name, studio.addrs.agents, context=ctx, proof=studio.keys.hello_proof(name))
        self.client.connect_with_backoff(deadline=time.monotonic() + 30)

    def decides(self, text: str = "move right 1") -> dict:
        reply = self.client.decide(text)
        assert reply["applied"] == [text] and not reply["rejected"]
        assert int(self.db.hget("aurora:recorder", "seq")) >= reply["seq"]
        return reply


@pytest.fixture
def ada(studio, ctx, record_db):
    good = Good(studio, ctx, record_db)
    good.decides("pen down")
    yield good
    good.client.close()


@pytest.fixture
def painted(studio, ctx, record_db, record_url):
    """The studio with works finished and recorded, and what a hostile agent may legally say in it (a `status` whose
    `until` is not finite, counts past any int64), behind a real `aurora gateway` on the record: (studio, gateway)."""
    painter = scripted(studio.addrs, "bo", "--seed", "3", "--decisions", "40", "--done-every", "10")
    try:
        assert painter.wait(120) == 0
    finally:
        stop(painter)
    mallory = Good(studio, ctx, record_db, "mallory")
    mallory.decides("pen down")
    for until in (float("inf"), float("nan"), float("-inf")):
        mallory.client.notify("status", {"activity": "resting", "until": until, "reason": "r" * 64,
                                         "usage": {"decisions": (1 << 64) - 1, "tokens": 0, "prompt_tokens": 0}})
    mallory.client.notify("echo", {"of": "title", "work": 1, "words": 200, "run": "\u202e\x00" * 100})
    mallory.decides("feel calm")  # stored before its reply: so are the status and echo events before it
    with gateway_process(studio.addrs, redis_url=record_url) as gateway:
        yield studio, gateway
    mallory.client.close()
