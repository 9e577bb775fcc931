"""The WebSocket over real processes and sockets: a volatile canvas, scripted (non-LLM) load agents,
`aurora gateway` on a free port, and real WebSocket clients (the `websockets` package, and a raw socket for
the viewer that never reads)."""

from __future__ import annotations

import statistics
import time

import pytest
import zmq
from websockets.exceptions import InvalidStatus

from proto.ops.table import BLANK, COLOURS
from proto.version import PROTOCOL_VERSION
from services.canvas.replica import Replica
from tests.audio_gateway.support import (Listener, Rebuilt, gateway_process, read_until_closed, scripted, stop_all,
                                         stuck_viewer)
from tests.support.processes import canvas_process, wait_until


@pytest.fixture
def canvas():
    with canvas_process("--heartbeat-interval", "0.2") as (_, addrs):
        yield addrs


def fresh_snapshot(addrs) -> Replica:
    context = zmq.Context.instance()
    replica = Replica(addrs.events, addrs.snapshots, context=context)
    replica.sync()
    replica.close()
    return replica


def known(activity: dict) -> dict:
    return {name: data for name, data in activity.items() if data is not None}


def events_of(listener: Listener) -> list[dict]:
    return listener.of_type("event")


def test_viewers_get_a_snapshot_then_every_event_in_order_and_rebuild_the_studio(canvas):
    with gateway_process(canvas) as gateway:
        early = [Listener(gateway.ws_url, name=f"early-{i}") for i in range(3)]
        agents = [scripted(canvas, name, "--seed", str(i), "--decisions", "60", "--done-every", "15",
                           "--pace", "0.005") for i, name in enumerate(("ada", "bo"))]
        try:
            # one viewer talks: what it sends is ignored, and it is served like the others
            early[2].ws.send("paint it black")
            early[2].ws.send(b"\x00\x01 not even text")
            wait_until(lambda: len(events_of(early[0])) > 50, timeout=30, what="events flowing")
            late = Listener(gateway.ws_url, name="late")  # joins while the agents paint
            assert [a.wait(60) for a in agents] == [0, 0]
        finally:
            stop_all(agents)
        final = fresh_snapshot(canvas)
        viewers = [*early, late]
        for viewer in viewers:
            viewer.wait_for_seq(final.seq)

        for viewer in viewers:
            kinds = [m["type"] for _, m in viewer.messages]
            assert kinds[0] == "snapshot" and kinds.count("snapshot") == 1 and "resync" not in kinds
            snapshot = viewer.of_type("snapshot")[0]
            assert snapshot["protocol"] == PROTOCOL_VERSION
            assert snapshot["palette"] == {**{c.code: c.rgb for c in COLOURS.values()}, BLANK: None}
            seqs = [m["seq"] for m in events_of(viewer)]
            assert seqs == list(range(snapshot["seq"] + 1, final.seq + 1))  # continuous after the snapshot
            rebuilt = Rebuilt([m for _, m in viewer.messages])
            assert rebuilt.seq == final.seq
            assert {n: c.to_dict() for n, c in rebuilt.canvases.items()} == \
                   {n: c.to_dict() for n, c in final.canvases.items()}
            assert rebuilt.status == final.status
            assert known(rebuilt.activity) == known(final.activity)
        # the early viewers were all there before the first event of the agents: the same events, in order
        first = [m for _, m in early[0].messages]
        assert all([m for _, m in v.messages] == first for v in early[1:])
        dones = [m for m in events_of(early[0]) if m["kind"] == "done"]
        assert len(dones) == 8  # 60 decisions, a work finished every 15, two agents
        # a `work` message follows each `done` event at once
        for viewer in early:
            messages = [m for _, m in viewer.messages]
            for i, m in enumerate(messages):
                if m["type"] == "event" and m["kind"] == "done":
                    assert messages[i + 1] == {"type": "work", "agent": m["agent"], "work": m["data"]["work"],
                                               "title": m["data"]["title"], "statement": None, "done_seq": m["seq"],
                                               "png": f"/api/works/{m['agent']}/{m['data']['work']}.png"}
        # the late viewer's snapshot lists the works finished before it joined, newest first
        late_snapshot = late.of_type("snapshot")[0]
        before = [m for m in dones if m["seq"] <= late_snapshot["seq"]]
        assert [(w["agent"], w["work"], w["done_seq"]) for w in late_snapshot["works"]] == \
               [(m["agent"], m["data"]["work"], m["seq"]) for m in reversed(before)]
        assert gateway.metric("aurora_gateway_viewer_input_messages_total") == 2
        assert gateway.metric("aurora_gateway_viewers") == 4
        for viewer in viewers:
            viewer.close()
        wait_until(lambda: gateway.metric("aurora_gateway_viewers") == 0, what="the viewers gone")
        assert gateway.metric("aurora_gateway_messages_sent_total", type="snapshot") == 4
        assert gateway.metric("aurora_gateway_resyncs_total", reason="queue_full") == 0


def test_a_viewer_that_never_reads_delays_no_one_and_is_resynced_then_dropped(canvas):
    with gateway_process(canvas, "--queue", "64", "--send-timeout", "60") as gateway:
        reader = Listener(gateway.ws_url, name="reader")
        wait_until(lambda: reader.seq() > 0, what="the reader's snapshot")
        stuck = stuck_viewer(gateway.port)
        agents = [scripted(canvas, name, "--seed", str(i), "--pace", "0.01") for i, name in enumerate(("ada", "bo"))]
        try:
            wait_until(lambda: gateway.metric("aurora_gateway_resyncs_total", reason="queue_full") >= 1,
                       timeout=60, what="the stuck viewer resynced")
            stuck_since = time.time()
            wait_until(lambda: gateway.metric("aurora_gateway_viewers_dropped_total", reason="too_many_resyncs") == 1,
                       timeout=60, what="the stuck viewer dropped")
            dropped_at = time.time()
            assert read_until_closed(stuck, timeout=15), "the gateway did not cut the stuck viewer's connection"
            assert gateway.metric("aurora_gateway_viewers") == 1
            mark = reader.seq()
            wait_until(lambda: reader.seq() > mark + 50, what="the reader still served")
        finally:
            stop_all(agents)
            stuck.close()
        # the reader missed nothing, and got each event soon after the canvas published it, all along
        kinds = [m["type"] for _, m in reader.messages]
        assert kinds.count("snapshot") == 1 and "resync" not in kinds
        events = [(received, m) for received, m in reader.messages if m["type"] == "event"]
        seqs = [m["seq"] for _, m in events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        while_stuck = [received - m["time"] for received, m in events if stuck_since <= received <= dropped_at]
        assert len(while_stuck) > 20
        print(f"while a viewer was stuck: {len(while_stuck)} events, latency median "
              f"{statistics.median(while_stuck) * 1000:.1f} ms, max {max(while_stuck) * 1000:.1f} ms")
        assert statistics.median(while_stuck) < 0.1 and max(while_stuck) < 1.0
        reader.close()


def test_a_page_from_another_origin_is_refused(canvas):
    with gateway_process(canvas, "--allow-origin", "http://friend.example:5173") as gateway:
        with pytest.raises(InvalidStatus) as refused:
            Listener(gateway.ws_url, origin="http://evil.example")
        assert refused.value.response.status_code == 403
        allowed = [Listener(gateway.ws_url, origin=origin) for origin in
                   (None, f"http://127.0.0.1:{gateway.port}", "http://friend.example:5173")]
        for viewer in allowed:
            wait_until(lambda: viewer.of_type("snapshot"), what="a snapshot for an allowed origin")
            viewer.close()
        assert gateway.metric("aurora_gateway_refusals_total", reason="origin") == 1
        assert gateway.metric("aurora_gateway_viewers_accepted_total") == 3


def test_more_viewers_than_the_cap_from_one_address_are_closed_with_1008(canvas):
    with gateway_process(canvas, "--max-viewers-per-address", "2") as gateway:
        first, second = Listener(gateway.ws_url), Listener(gateway.ws_url)
        wait_until(lambda: first.of_type("snapshot") and second.of_type("snapshot"), what="two viewers served")
        third = Listener(gateway.ws_url)
        wait_until(lambda: third.ended, what="the third viewer closed")
        assert third.close_code == 1008 and third.messages == []
        assert gateway.metric("aurora_gateway_refusals_total", reason="too_many_from_address") == 1
        first.close()
        wait_until(lambda: gateway.metric("aurora_gateway_viewers") == 1, what="the first viewer gone")
        again = Listener(gateway.ws_url)  # its place is free again
        wait_until(lambda: again.of_type("snapshot"), what="a snapshot for the viewer that took its place")
        assert not second.ended
        for viewer in (second, again):
            viewer.close()
