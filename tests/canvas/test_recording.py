"""The durable canvas against a fake transport: nothing is shown before the recorder has confirmed it
(PROTOCOL.md section 11): replies, events and snapshots wait; a new canvas resumes from the record."""

from __future__ import annotations

import pytest

from proto.canvas import CanvasModel
from proto.envelope import Message, decode, encode
from services.canvas.recording import RecordBehind
from tests.canvas.fakes import Harness

A = b"route-a"
REC = b"rec"


@pytest.fixture
def h() -> Harness:
    return Harness(durable=True)


def attach(h: Harness, seq: int = 0, canvases: dict | None = None, route: bytes = REC) -> Message:
    h.as_recorder("record_hello", {"seq": seq, "canvases": canvases or {}}, route)
    return h.outbox.recorded[-1][1]


def batches(h: Harness) -> list[list[int]]:
    """The seqs of each `record` batch sent to the recorder."""
    batches = [m.body["events"] for _, m in h.outbox.recorded if m.type == "record"]
    for items in batches:  # each item holds its event's envelope, and repeats its seq, agent and kind
        for seq, agent, kind, _, envelope in items:
            body = decode(envelope, limit=1 << 20, accept=frozenset({"event"})).body
            assert (body["seq"], body["agent"], body["kind"]) == (seq, agent, kind)
    return [[item[0] for item in items] for items in batches]


def snapshot_request(h: Harness) -> None:
    h.studio.on_snapshot_frames([b"viewer", encode(Message("snapshot_request", {"agent": None}, "viewer"))])


def test_a_new_canvas_serves_no_one_before_its_recorder_says_hello(h):
    reply = h.hello(A, "ada")
    assert reply.type == "error" and reply.body["code"] == "unavailable"
    snapshot_request(h)
    assert h.outbox.answered == []  # the viewer waits, it is not refused
    assert attach(h).type == "recorded"
    [(_, snap)] = h.outbox.answered
    assert snap.type == "snapshot" and snap.body == {"seq": 0, "canvases": {}, "mode": "isolated"}


def test_a_restarted_canvas_resumes_from_the_recorded_state(h):
    canvas = CanvasModel()
    canvas.apply_text("pen down")
    canvas.apply_text("move right 3")
    recorded = attach(h, seq=41, canvases={"ada": canvas.to_dict()})
    assert recorded.body == {"seq": 41}
    h.hello(A, "ada")
    h.as_recorder("recorded", {"seq": 42})
    welcome = h.outbox.last(A)
    assert welcome.type == "welcome" and welcome.body["state"] == canvas.state()
    assert [e.body["kind"] for e in h.outbox.events()] == ["joined"]  # the canvas was not made anew
    assert h.outbox.events()[0].body["seq"] == 42


def test_a_result_and_its_events_wait_until_the_recorder_has_them(h):
    attach(h)
    h.hello(A, "ada")
    h.studio.flush()
    h.as_recorder("recorded", {"seq": 2})
    sent_before = len(h.outbox.sent)
    h.ops(A, "ada", "pen down\nmove right 2")
    assert len(h.outbox.sent) == sent_before, "no result before the recorder confirms"
    assert [e.body["seq"] for e in h.outbox.events()] == [1, 2]  # this decision's events are held too
    h.studio.flush()
    assert batches(h) == [[1, 2], [3, 4]]  # one batch per wake-up of the loop
    h.as_recorder("recorded", {"seq": 3})
    assert len(h.outbox.sent) == sent_before  # not all of the decision is stored yet
    assert [e.body["seq"] for e in h.outbox.events()] == [1, 2, 3]
    h.as_recorder("recorded", {"seq": 4})
    assert h.outbox.last(A).type == "result" and h.outbox.last(A).body["seq"] == 4
    assert [e.body["seq"] for e in h.outbox.events()] == [1, 2, 3, 4]
    h.clock.now += 1.0
    h.studio.tick()
    assert h.outbox.ticks[-1][1].body["seq"] == 4


def test_a_snapshot_is_answered_once_what_it_shows_is_recorded(h):
    attach(h)
    h.hello(A, "ada")
    snapshot_request(h)
    assert h.outbox.answered == []
    h.studio.flush()
    h.as_recorder("recorded", {"seq": 2})
    [(_, snap)] = h.outbox.answered
    assert snap.body["seq"] == 2 and "ada" in snap.body["canvases"]


def test_an_agent_kept_waiting_is_told_so_once(h):
    attach(h)
    h.hello(A, "ada")
    h.clock.now += 1.5
    h.studio.tick()
    h.studio.tick()
    waits = [m for r, m in h.outbox.sent if m.type == "wait"]
    assert len(waits) == 1 and "recorder" in waits[0].body["reason"]


def test_a_gap_or_a_new_recorder_gets_every_unconfirmed_event_again(h):
    attach(h)
    h.hello(A, "ada")
    h.studio.flush()
    h.ops(A, "ada", "move up")
    h.studio.flush()
    assert batches(h) == [[1, 2], [3]]
    h.as_recorder("recorded", {"seq": 1})
    attach(h, seq=1, canvases=None)  # "I have 1; the next batch did not follow": send from 2 again
    h.studio.flush()
    assert batches(h)[-1] == [2, 3]
    # The recorder falls silent, is dropped, and a new one (another route) says hello with what it stored.
    h.clock.now += 3.5
    h.studio.tick()
    assert h.studio.recorder.route is None
    attach(h, seq=2, route=b"rec-2")
    h.studio.flush()
    assert batches(h)[-1] == [3, 4]  # 4: the agent, silent as long, was marked missing
    h.as_recorder("recorded", {"seq": 3}, b"rec-2")
    assert h.outbox.last(A).type == "result"


def test_a_recorder_the_canvas_does_not_know_must_say_hello(h):
    attach(h)
    h.as_recorder("heartbeat", {}, b"stranger")
    assert h.outbox.recorded[-1][1].type == "error"
    assert h.outbox.recorded[-1][1].body["code"] == "not_registered"


def test_a_record_ahead_of_a_running_canvas_is_refused_loudly(h):
    attach(h)
    h.hello(A, "ada")
    reply = attach(h, seq=99, route=b"other")
    assert reply.type == "error" and "ahead" in reply.body["reason"]
    assert h.studio.seq == 2


def test_a_volatile_canvas_replies_and_publishes_at_once():
    h = Harness(durable=False)
    assert h.hello(A, "ada").type == "welcome"
    assert [e.body["seq"] for e in h.outbox.events()] == [1, 2]
    assert h.outbox.recorded == []


def test_before_its_recorder_a_new_canvas_sends_a_returning_agent_back_to_hello(h):
    reply = h.ops(A, "ada", "move up")  # an agent of the canvas that died: it must say hello again
    assert reply.type == "error" and reply.body["code"] == "not_registered"


# Found by fuzzing the record socket (tests/fuzz/test_fuzz_record_socket.py):

def test_a_record_hello_with_more_canvases_than_an_agent_s_frame_holds_is_adopted(h):
    # It was decoded under the agents' 20 KiB limit: a record of 40 canvases was refused (frame_too_large), and
    # a restarted canvas waited for ever.
    canvases = {f"agent-{i}": CanvasModel(32, 16).to_dict() for i in range(40)}
    assert len(encode(Message("record_hello", {"seq": 7, "canvases": canvases}, "recorder"))) > 20 * 1024
    assert attach(h, 7, canvases).body == {"seq": 7}
    assert h.studio.recorder.ready and len(h.studio.canvases) == 40 and h.studio.seq == 7


@pytest.mark.parametrize("canvases", [
    {"ada": {"width": "x"}},  # raised in the handler: no answer, the recorder's hello repeated for ever
    {"ada": {k: v for k, v in CanvasModel(8, 4).to_dict().items() if k != "cells"}},
    {"../ada": CanvasModel(8, 4).to_dict()},  # no agent's name
    {"ada": {**CanvasModel(8, 4).to_dict(), "state": {**CanvasModel(8, 4).state(), "title": ["a", 1]}}},
])
def test_a_record_hello_whose_canvases_are_not_canvases_is_refused_and_nothing_is_adopted(h, canvases):
    reply = attach(h, 3, canvases)
    assert reply.type == "error" and reply.body["code"] == "bad_field"
    assert not h.studio.recorder.ready and not h.studio.canvases
    assert attach(h, 0).type == "recorded"  # the recorder's next, good hello is adopted


@pytest.mark.parametrize("ready", [False, True])
def test_a_record_hello_with_a_seq_below_zero_is_refused(h, ready):
    if ready:
        attach(h)
    reply = attach(h, -7)  # adopted, it numbered the studio's next events from -6
    assert reply.type == "error" and reply.body["code"] == "bad_field" and h.studio.seq == 0


def test_a_record_that_lost_confirmed_events_stops_the_canvas_rather_than_asking_for_ever(h):
    """A Redis that lost writes it had answered (test_durability[redis] once: the record resumed at seq 2 with 37
    confirmed) left the recorder asking for events the canvas no longer held, for ever, every reply held. The
    canvas stops instead, to start again from the record."""
    attach(h)
    h.hello(A, "ada")
    h.studio.flush()
    h.as_recorder("recorded", {"seq": 2})
    assert h.studio.journal.committed == 2
    with pytest.raises(RecordBehind, match="seq 1, before the 2"):
        attach(h, seq=1, canvases=None, route=b"rec-2")
    # Not an Exception: the service loop's guard, which swallows a failed handler's, lets it through.
    assert not issubclass(RecordBehind, Exception)
