"""Real processes over real ZeroMQ sockets on free ports: agents painting at once, late join, bad input."""

from __future__ import annotations

import signal
import time

import msgpack
import pytest
import zmq

from proto.envelope import Message, decode, encode
from proto.topics import decode_published
from services.base.keys import Keys
from services.canvas.client import CanvasClient
from services.canvas.replica import Replica
from tests.support.processes import addr_args, aurora, canvas_process, free_addresses, stop


@pytest.fixture
def canvas():
    with canvas_process("--heartbeat-interval", "0.2", "--liveness", "3", "--remove-after", "10") as running:
        yield running


def replica_of(addrs, ctx) -> Replica:
    replica = Replica(addrs.events, addrs.snapshots, context=ctx)
    replica.sync()
    return replica


def subscribed_replica_of(addrs, ctx) -> Replica:
    """A replica that takes its snapshot only once its subscription is live (a message waits on its SUB; a tick
    comes every 0.2 s): it misses no event after the snapshot, so a gap it sees is one the PUB dropped."""
    replica = Replica(addrs.events, addrs.snapshots, context=ctx)
    assert replica.sub.poll(5000), "nothing on the events socket, not even a tick"
    replica.sync()
    return replica


def idle_until(client: CanvasClient, replica: Replica, condition, timeout: float = 10.0) -> None:
    """Poll the replica until `condition(replica)` holds, the client heartbeating all along as an agent would:
    a client that does not call in goes missing after liveness x interval, 0.6 s here."""
    deadline = time.monotonic() + timeout
    while not condition(replica):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s (replica at seq {replica.seq})")
        client.idle()
        replica.poll(0.05)


def test_two_agents_paint_at_once_and_a_late_joiner_rebuilds_every_canvas(canvas, ctx):
    proc, addrs = canvas
    agents = [aurora("scripted-agent", name, "--seed", str(i), "--decisions", "150", "--done-every", "25",
                     *addr_args(addrs)) for i, name in enumerate(("ada", "bob"))]
    try:
        early = subscribed_replica_of(addrs, ctx)
        # join late: after both agents have started painting
        early.wait_for(lambda r: {"ada", "bob"} <= set(r.canvases)
                       and min(r.canvases[n].ops for n in ("ada", "bob")) > 40)
        late = subscribed_replica_of(addrs, ctx)
        assert all(p.wait(60) == 0 for p in agents)
        final = replica_of(addrs, ctx)  # a fresh snapshot: the live state
        for replica in (early, late):
            replica.wait_for(lambda r: r.seq >= final.seq)
            assert replica.seq == final.seq
            for name in ("ada", "bob"):
                assert replica.canvases[name].to_dict() == final.canvases[name].to_dict()
        assert final.canvases["ada"].work == 7  # 150 decisions, a work finished every 25
        assert final.canvases["ada"].to_dict() != final.canvases["bob"].to_dict()
        assert late.counters["gaps"] == 0 and early.counters["gaps"] == 0  # the PUB dropped nothing
    finally:
        for p in agents:
            stop(p)


def _request(sock: zmq.Socket, frame: bytes) -> Message:
    sock.send(frame)
    assert sock.poll(5000), "the canvas did not answer"
    return decode(sock.recv(), limit=1 << 24)


@pytest.mark.parametrize("frame, code", [
    (b"\x93garbage", "bad_encoding"),
    (msgpack.packb({"version": "1.0", "type": "ops", "id": "1", "sender": "x", "time": 1.0, "parent_id": None,
                    "body": {"text": ["not", "a", "string"]}}), "bad_field"),
    (encode(Message("paint", {}, "mallory")), "unknown_type"),
    (b"x" * 100_000, "frame_too_large"),
    (encode(Message("ops", {"text": "move up"}, "good")), "identity_mismatch"),
    (encode(Message("hello", {"agent": "good", "protocol": "9.0"}, "good")), "version_mismatch"),
], ids=lambda v: v if isinstance(v, str) else "frame")  # named by the code: a frame's bytes hold its id and time
def test_bad_input_over_real_sockets_gets_an_error_and_a_good_agent_is_still_served(canvas, ctx, frame, code):
    _, addrs = canvas
    good = CanvasClient("good", addrs.agents, context=ctx)
    good.connect()
    bad = ctx.socket(zmq.DEALER)
    bad.setsockopt(zmq.LINGER, 0)
    bad.connect(addrs.agents)
    if code == "identity_mismatch":  # mallory, registered as herself, claims to be "good"
        proof = Keys.studio().hello_proof("mallory")  # a process of the studio's owner: it can prove a name
        assert _request(bad, encode(Message("hello", {"agent": "mallory", "protocol": "1.0", "proof": proof},
                                            "mallory"))).type \
            == "welcome"
    reply = _request(bad, frame)
    assert reply.type == "error" and reply.body["code"] == code
    result = good.decide("pen down\nmove right 2")
    assert result["applied"] == ["pen down", "move right 2"]
    bad.close(0)


def test_a_frame_over_the_hard_limit_drops_only_that_peer(canvas, ctx):
    _, addrs = canvas
    bad = ctx.socket(zmq.DEALER)
    bad.setsockopt(zmq.LINGER, 0)
    bad.connect(addrs.agents)
    bad.send(b"x" * (2 << 20))  # over ZMQ_MAXMSGSIZE: ZeroMQ disconnects the peer
    good = CanvasClient("good", addrs.agents, context=ctx)
    good.connect()
    assert good.decide("move up")["applied"] == ["move up 1"]
    assert not bad.poll(200)  # no reply to a frame that was never read
    bad.close(0)


def test_a_killed_agent_is_marked_missing_then_removed_and_resumes_its_canvas(canvas, ctx):
    proc, addrs = canvas
    replica = replica_of(addrs, ctx)
    agent = aurora("scripted-agent", "ada", "--pace", "0.05", *addr_args(addrs))
    try:
        replica.wait_for(lambda r: "ada" in r.canvases and r.canvases["ada"].ops > 10, timeout=20)
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        replica.wait_for(lambda r: r.status.get("ada") == "missing", timeout=10)
        replica.wait_for(lambda r: r.status.get("ada") == "away", timeout=10)
        ops_before = replica.canvases["ada"].ops
        back = CanvasClient("ada", addrs.agents, context=ctx)
        welcome = back.connect()
        assert welcome["state"]["ops"] == ops_before  # the same canvas, not a new one
        replica.wait_for(lambda r: r.status.get("ada") == "live")
    finally:
        stop(agent)


def test_the_client_keeps_a_quiet_connection_alive_with_heartbeats(canvas, ctx):
    _, addrs = canvas
    replica = replica_of(addrs, ctx)
    client = CanvasClient("ada", addrs.agents, context=ctx)
    client.connect()
    assert client.interval == 0.2
    # The replica's SUB may not have reached the PUB when `new` and `joined` went out (the slow joiner): then
    # the next tick tells it that it is behind, and it takes a snapshot.
    idle_until(client, replica, lambda r: r.status.get("ada") == "live")
    start_seq = replica.seq
    # 2 s of idling is 10 heartbeat intervals: the canvas must never mark the agent missing
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        client.idle()
        replica.poll(0.05)
    assert replica.status["ada"] == "live"
    assert replica.seq == start_seq  # heartbeats are not events, nor are ticks
    assert replica.counters["ticks"] >= 5  # one every 0.2 s


def test_a_replica_that_lost_the_last_events_before_a_quiet_spell_catches_up_on_the_next_tick(canvas, ctx):
    _, addrs = canvas
    client = CanvasClient("ada", addrs.agents, context=ctx)
    client.connect()
    replica = replica_of(addrs, ctx)
    idle_until(client, replica, lambda r: r.counters["ticks"] > 0)  # a tick came: the SUB is subscribed
    seq = client.decide("color red\npen down\nmove right 3")["seq"]
    # Lose those events, as a late subscription or a PUB queue overflow would: read them off unapplied.
    while True:
        assert replica.sub.poll(5000), "the events never came"
        msg = decode_published(replica.sub.recv_multipart())
        if msg.type == "event" and msg.body["seq"] == seq:
            break
    assert replica.seq < seq and replica.canvases["ada"].ops == 0
    idle_until(client, replica, lambda r: r.seq >= seq)  # nothing else happens in the studio: only a tick helps
    assert replica.counters["behind"] == 1 and replica.counters["gaps"] == 0
    fresh = replica_of(addrs, ctx)
    assert replica.seq == fresh.seq
    assert replica.canvases["ada"].to_dict() == fresh.canvases["ada"].to_dict()
    assert replica.canvases["ada"].ops == 3 and replica.status == fresh.status and fresh.status["ada"] == "live"


def test_a_client_the_canvas_no_longer_knows_reconnects_instead_of_talking_into_the_void(canvas, ctx):
    from services.canvas.client import CanvasGone

    _, addrs = canvas
    client = CanvasClient("ada", addrs.agents, context=ctx)
    client.connect()
    client.sock.send(encode(Message("bye", {}, "ada")))  # the canvas ends the session, as a restart would
    with pytest.raises(CanvasGone, match="no longer knows"):
        client.decide("move up")
    client.connect_with_backoff()
    assert client.decide("move up")["applied"] == ["move up 1"]


def test_a_replica_follows_a_volatile_canvas_that_restarted_with_its_sequence_from_zero(ctx):
    addrs = free_addresses()
    args = ["canvas", *addr_args(addrs), "--volatile", "--heartbeat-interval", "0.2"]
    first = aurora(*args)
    second = None
    try:
        ada = CanvasClient("ada", addrs.agents, context=ctx)
        ada.connect_with_backoff(deadline=time.monotonic() + 15)
        for _ in range(5):
            ada.decide("pen down\nmove right")
        replica = replica_of(addrs, ctx)
        assert replica.seq > 5
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = aurora(*args)
        bob = CanvasClient("bob", addrs.agents, context=ctx)
        bob.connect_with_backoff(deadline=time.monotonic() + 15)
        # Its events have seqs the replica already passed; the next tick says the sequence went back.
        replica.wait_for(lambda r: "bob" in r.canvases and "ada" not in r.canvases, timeout=10)
        assert replica.counters["restarts"] >= 1
        replica.close()
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)
