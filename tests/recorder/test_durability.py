"""SIGKILL under load (issue 5, DESIGN.md "The guarantees"): the recorder, Redis, the canvas. After each is
killed and restarted, every event an agent saw acknowledged is in Redis, the record's seqs have no gap, and
the canvas equals the record (a digest per canvas). The agents reconnect by themselves.

Real processes on free ports: a valkey server, `aurora recorder`, a durable `aurora canvas`, two scripted
(non-LLM) load agents, and a witness: an agent in this process that keeps the seq of every reply it got.
"""

from __future__ import annotations

import itertools
import signal
import threading

import pytest
import redis
import zmq

from services.base.redis_server import EmbeddedRedis
from services.canvas.client import CanvasClient, CanvasGone
from services.canvas.recording import EXIT_RECORD_BEHIND
from services.canvas.replica import Replica
from services.recorder import archive
from tests.support.processes import addr_args, aurora, free_addresses, free_port, stop, wait_until

INTERVAL = "0.2"  # heartbeats of the canvas and the recorder: a dead peer is noticed in 0.6 s


class Witness(threading.Thread):
    """An agent that decides as fast as it is answered and remembers what the canvas acknowledged."""

    def __init__(self, address: str):
        super().__init__(daemon=True)
        self.context = zmq.Context()
        self.client = CanvasClient("witness", address, context=self.context)
        self.acked: list[int] = []  # the seq of each reply: every event up to it was shown applied
        self.stopping = threading.Event()

    def run(self) -> None:
        moves = itertools.cycle(["pen down", "move right 3", "color red", "move down", "move left 3", "pen up"])
        self.client.connect_with_backoff(should_stop=self.stopping.is_set)
        while not self.stopping.is_set():
            try:
                self.acked.append(self.client.decide(next(moves))["seq"])
            except CanvasGone:
                try:
                    self.client.connect_with_backoff(should_stop=self.stopping.is_set)
                except CanvasGone:
                    return

    def finish(self) -> None:
        self.stopping.set()
        self.join(30)
        assert not self.is_alive(), "the witness did not stop"
        self.client.close()
        self.context.destroy(0)


class Studio:
    def __init__(self, tmp):
        self.redis = EmbeddedRedis(tmp / "redis", free_port()).start()
        self.addrs = free_addresses()
        self.recorder = self.start_recorder()
        self.canvas = self.start_canvas()
        self.agents = [aurora("scripted-agent", name, "--seed", str(i), "--pace", "0.01", "--done-every", "15",
                              *addr_args(self.addrs)) for i, name in enumerate(("ada", "bob"))]
        self.witness = Witness(self.addrs.agents)
        self.db = redis.Redis.from_url(self.redis.url)

    def start_recorder(self):
        return aurora("recorder", *addr_args(self.addrs), "--heartbeat-interval", INTERVAL,
                      env_extra={"REDIS_URL": self.redis.url})

    def start_canvas(self):
        return aurora("canvas", *addr_args(self.addrs), "--heartbeat-interval", INTERVAL)

    def close(self) -> None:
        for proc in (*self.agents, self.canvas, self.recorder):
            stop(proc)
        self.db.close()
        self.redis.stop()


@pytest.fixture
def studio(tmp_path):
    s = Studio(tmp_path)
    yield s
    s.close()


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("victim", ["recorder", "redis", "canvas"])
def test_nothing_acknowledged_is_lost_when_a_part_is_killed(studio, victim):
    studio.witness.start()
    wait_until(lambda: len(studio.witness.acked) >= 30, timeout=60, what="the studio under load")
    if victim == "recorder":
        kill(studio.recorder)
        studio.recorder = studio.start_recorder()
    elif victim == "redis":
        studio.redis.proc.send_signal(signal.SIGKILL)
        studio.redis.proc.wait()
        studio.redis.start()
    else:
        kill(studio.canvas)
        studio.canvas = studio.start_canvas()
    at_kill = len(studio.witness.acked)
    killed_at = max(studio.witness.acked)
    wait_until(lambda: len(studio.witness.acked) >= at_kill + 30, timeout=90, what="the agents carry on")
    for proc in studio.agents:
        proc.terminate()
    assert all(proc.wait(30) == 0 for proc in studio.agents)
    studio.witness.finish()

    # Quiet now: once the canvas has confirmed all it applied, the live studio and the record must agree.
    replica = Replica(studio.addrs.events, studio.addrs.snapshots)
    try:
        replica.sync(timeout=10)  # answered only once what it shows is recorded
        last = archive.last_seq(studio.db)
        assert last == replica.seq
        ids = [int(entry_id.split(b"-")[0]) for entry_id, _ in studio.db.xrange("aurora:events")]
        assert ids == list(range(1, last + 1)), "the record has a gap or a duplicate"
        assert max(studio.witness.acked) <= last, "an acknowledged event is missing from the record"
        assert set(replica.canvases) == {"ada", "bob", "witness"}
        for agent, canvas in replica.canvases.items():
            recorded = archive.canvas_at(studio.db, agent, last)
            assert recorded is not None and recorded.digest() == canvas.digest(), agent
        # The scripted agents, separate processes, found the studio again by themselves.
        for agent in ("ada", "bob"):
            assert int(studio.db.hget(f"aurora:facts:{agent}", "last_seq")) > killed_at, agent
    finally:
        replica.close()


@pytest.mark.timeout(180)
def test_a_record_that_lost_confirmed_events_restarts_the_canvas_from_it(studio):
    """A Redis that lost what it had answered (here emptied, as one restored from an older file) once left the
    recorder asking for events the canvas no longer held, for ever. The canvas stops (exit 3) and, started
    again, resumes from the record; the agents carry on."""
    wait_until(lambda: archive.last_seq(studio.db) >= 20, timeout=60, what="the studio under load")
    kill(studio.recorder)
    studio.db.flushdb()
    studio.recorder = studio.start_recorder()
    assert studio.canvas.wait(60) == EXIT_RECORD_BEHIND
    studio.canvas = studio.start_canvas()
    wait_until(lambda: archive.last_seq(studio.db) >= 20, timeout=90, what="the studio going on from the record")
    ids = [int(entry_id.split(b"-")[0]) for entry_id, _ in studio.db.xrange("aurora:events")]
    assert ids == list(range(1, len(ids) + 1))
