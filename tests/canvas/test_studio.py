"""The canvas handlers against a fake transport: handshake, ops, events, bad input, heartbeats, snapshots."""

from __future__ import annotations

import pytest

from proto.envelope import Message, encode
from proto.errors import CODES
from proto.ops.manual import choice_lists
from proto.version import PROTOCOL_VERSION
from tests.canvas.fakes import Harness, raw

A, B = b"route-a", b"route-b"


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_hello_welcomes_with_a_blank_canvas_and_announces_the_agent(h):
    reply = h.hello(A, "ada")
    assert reply.type == "welcome"
    assert reply.body["width"] == 32 and reply.body["height"] == 16
    assert reply.body["state"]["cursor"] == [16, 8] and reply.body["state"]["pen"] == "up"
    assert [m.body["kind"] for m in h.outbox.events()] == ["new", "joined"]
    assert [m.body["seq"] for m in h.outbox.events()] == [1, 2]
    assert reply.body["seq"] == 2


def test_ops_are_applied_in_order_and_each_change_is_a_sequenced_event(h):
    h.hello(A, "ada")
    reply = h.ops(A, "ada", "color red\npen down\nmove right 3\nnote C4 quarter 90\nfeel calm\nbogus\nmove left 0")
    assert reply.type == "result"
    assert reply.body["applied"] == ["color red", "pen down", "move right 3", "note C4 quarter 90", "feel calm"]
    assert [r["code"] for r in reply.body["rejected"]] == ["unknown_op", "bad_argument"]
    assert all(r["reason"] for r in reply.body["rejected"])
    note = reply.body["notes"][0]
    assert (note["pitch"], note["midi"], note["velocity"], note["color"], note["x"]) == ("C4", 60, 90, "red", 19)
    assert reply.body["state"]["cursor"] == [19, 8] and reply.body["state"]["feel"] == "calm"
    assert "rrr@" in reply.body["view"]  # the cursor marks the last painted cell
    events = h.outbox.events()[2:]
    # a rejected op changes nothing, but it is published too: the study counts them
    assert [e.body["kind"] for e in events] == ["tool", "stroke", "stroke", "note", "feel", "rejected", "rejected"]
    assert [e.body["data"].get("code") for e in events[-2:]] == ["unknown_op", "bad_argument"]
    assert [e.body["seq"] for e in events] == [3, 4, 5, 6, 7, 8, 9]
    assert reply.body["seq"] == 9
    assert all(e.parent_id == h.outbox.sent[-1][1].parent_id for e in events)
    topics = [t for t, _ in h.outbox.published[2:]]
    assert topics == ["canvas.ada.tool", "canvas.ada.stroke", "canvas.ada.stroke", "note.ada", "agent.ada.feel",
                      "canvas.ada.rejected", "canvas.ada.rejected"]


def test_done_ends_the_work_with_its_title_and_starts_a_blank_canvas(h):
    h.hello(A, "ada")
    reply = h.ops(A, "ada", 'pen down\ntitle "First Light"\ndone')
    assert reply.body["state"]["work"] == 2 and reply.body["state"]["title"] is None
    done = h.outbox.events("done")[0]
    assert done.body["data"]["title"] == "First Light" and done.body["data"]["work"] == 1
    assert "k" in "".join(done.body["data"]["cells"])
    assert h.outbox.events("new")[-1].body["data"]["work"] == 2
    assert "k" not in reply.body["view"].split("\n", 1)[1]


def test_done_on_a_blank_canvas_is_refused_as_an_empty_work_and_counted(h):
    h.hello(A, "ada")
    reply = h.ops(A, "ada", 'title "Nothing"\ndone')
    assert reply.body["applied"] == ['title "Nothing"']
    assert [(r["code"], r["text"]) for r in reply.body["rejected"]] == [("empty_work", "done")]
    assert reply.body["state"]["work"] == 1 and not h.outbox.events("done")
    assert h.outbox.events("rejected")[-1].body["data"]["code"] == "empty_work"
    assert h.studio.counters["ops_rejected"] == 1
    # once a cell is painted the same work may end
    reply = h.ops(A, "ada", "pen down\ndone")
    assert reply.body["applied"] == ["pen down", "done"] and reply.body["state"]["work"] == 2


def test_a_second_done_in_one_decision_is_refused(h):
    h.hello(A, "ada")
    reply = h.ops(A, "ada", "pen down\ndone\npen down\ndone")
    assert reply.body["applied"] == ["pen down", "done", "pen down"]
    assert [r["code"] for r in reply.body["rejected"]] == ["extra_done"]
    assert reply.body["state"]["work"] == 2 and len(h.outbox.events("done")) == 1


def test_replies_carry_the_cells_so_an_agent_can_play_its_ops_on_a_copy(h):
    welcome = h.hello(A, "ada")
    assert welcome.body["cells"] == ["." * 32] * 16
    reply = h.ops(A, "ada", "color red\npen down")
    assert reply.body["cells"][8][16] == "r" and "@" not in "".join(reply.body["cells"])


def test_the_order_of_an_agents_lists_is_told_at_hello_and_published_in_joined(h):
    lists = choice_lists(seed=5)
    reply = h.send(A, "hello", {"agent": "ada", "protocol": PROTOCOL_VERSION, "lists": lists}, "ada")
    assert reply.type == "welcome"
    assert h.outbox.events("joined")[-1].body["data"] == {"model": None, "lists": lists, "mode": "isolated"}
    hostile = [{**lists, "colour": lists["colour"][:-1] + ["ultraviolet"]}, {**lists, "colour": [1, "a"]},
               {**lists, "octave": [None] * 5}, {**lists, "shape": [{}, {}, {}, {}]}, {"ops": lists["ops"]},
               {**lists, "letter": lists["letter"] + ["C"]}]
    for bad in hostile:
        assert h.send(B, "hello", {"agent": "bo", "protocol": PROTOCOL_VERSION, "lists": bad}, "bo").body["code"] \
            == "bad_field"
    # a list that a later minor version may add is let be
    later = {**lists, "moods": ["any"]}
    assert h.send(B, "hello", {"agent": "bo", "protocol": PROTOCOL_VERSION, "lists": later}, "bo").type == "welcome"


def test_a_status_may_say_the_agents_usage(h):
    h.hello(A, "ada")
    usage = {"decisions": 3, "tokens": 120, "prompt_tokens": 900}
    h.send(A, "status", {"activity": "painting", "usage": usage}, "ada")
    assert h.outbox.events("status")[-1].body["data"]["usage"] == usage
    for bad in ({"decisions": 3}, {**usage, "tokens": -1}, {**usage, "tokens": "many"}):
        assert h.send(A, "status", {"activity": "painting", "usage": bad}, "ada").body["code"] == "bad_field"


def test_an_echo_is_published_and_a_malformed_one_refused(h):
    h.hello(A, "ada")
    h.send(A, "echo", {"of": "title", "work": 1, "words": 2, "run": "blue  rain"}, "ada")
    assert h.outbox.events("echo")[-1].body["data"] == {"of": "title", "work": 1, "words": 2, "run": "blue rain"}
    assert h.outbox.published[-1][0] == "work.ada.echo"
    h.send(A, "echo", {"of": "title", "work": 1, "words": 6, "run": "a b c d e f", "studio_words": 2}, "ada")
    assert h.outbox.events("echo")[-1].body["data"]["studio_words"] == 2
    assert h.send(A, "echo", {"of": "title", "work": 1, "words": 2, "run": "", "studio_words": 3}, "ada").body["code"] \
        == "bad_field"  # a run of the studio's words lies within the prompt's
    h.send(A, "echo", {"of": "title", "work": 1, "words": 0, "run": "", "asked": True}, "ada")
    assert h.outbox.events("echo")[-1].body["data"]["asked"] is True
    assert h.send(A, "echo", {"of": "title", "work": 1, "words": 0, "run": "", "asked": 1}, "ada").body["code"] \
        == "bad_field"
    for body in ({"of": "poem", "work": 1, "words": 0, "run": ""}, {"of": "title", "work": 0, "words": 0, "run": ""},
                 {"of": "title", "work": 1, "words": -1, "run": ""}, {"of": "title", "work": 1, "words": "5", "run": ""}):
        assert h.send(A, "echo", body, "ada").body["code"] == "bad_field"


def test_an_agent_changes_only_its_own_canvas(h):
    h.hello(A, "ada")
    h.hello(B, "bob")
    h.ops(A, "ada", "pen down\nmove down 5")
    assert set("".join(h.studio.canvases["bob"].rows())) == {"."}
    # bob cannot speak as ada, even on his own connection
    reply = h.ops(B, "ada", "pen down")
    assert reply.type == "error" and reply.body["code"] == "identity_mismatch"
    assert h.studio.canvases["ada"].ops == 2


@pytest.mark.parametrize(
    "frame, code",
    [
        (b"\xc1\xff not msgpack", "bad_encoding"),
        (raw([1, 2, 3]), "bad_encoding"),
        (raw({"type": "ops"}), "bad_envelope"),
        (raw({"version": "1.0", "type": "ops", "id": "x", "sender": "ada", "time": "noon", "parent_id": None,
              "body": {}}), "bad_envelope"),
        (raw({"version": "1.0", "type": "ops", "id": "x", "sender": "ada", "time": 1.0, "parent_id": None,
              "body": {"text": 42}}), "bad_field"),
        (raw({"version": "1.0", "type": "launch", "id": "x", "sender": "ada", "time": 1.0, "parent_id": None,
              "body": {}}), "unknown_type"),
        (raw({"version": "1.0", "type": "welcome", "id": "x", "sender": "ada", "time": 1.0, "parent_id": None,
              "body": {}}), "unknown_type"),
        (b"\x00" * 70_000, "frame_too_large"),
    ],
)
def test_bad_input_gets_a_coded_error_and_the_studio_keeps_serving(h, frame, code):
    h.hello(A, "ada")
    reply = h.frame(B, frame)
    assert reply.type == "error" and reply.body["code"] == code
    assert reply.body["number"] == CODES[code] and reply.body["reason"]
    assert h.studio.counters[f"error_{code}"] == 1
    assert h.ops(A, "ada", "move up").type == "result"


def test_an_error_names_the_offending_message(h):
    h.hello(A, "ada")
    msg = Message("ops", {"text": 7}, "ada")  # wrong type, but the envelope decodes
    reply = h.frame(A, encode(msg))
    assert reply.parent_id == msg.id


def test_multi_frame_messages_are_refused_and_malformed_routing_is_counted(h):
    h.studio.on_agent_frames([A, b"x", b"y"])
    assert h.outbox.last(A).body["code"] == "bad_envelope"
    h.studio.on_agent_frames([A])
    assert h.studio.counters["dropped_malformed_routing"] == 2


def test_handshake_refusals(h):
    assert h.hello(A, "ada", protocol="2.0").body["code"] == "version_mismatch"
    assert PROTOCOL_VERSION in h.outbox.last(A).body["reason"] and "2.0" in h.outbox.last(A).body["reason"]
    assert h.hello(A, "Ada!").body["code"] == "bad_name"
    assert h.hello(A, "canvas").body["code"] == "bad_name"
    assert h.send(A, "hello", {"agent": "ada", "protocol": "1.0"}, "bob").body["code"] == "identity_mismatch"
    assert h.ops(A, "ada", "move up").body["code"] == "not_registered"
    assert h.hello(A, "ada").type == "welcome"
    assert h.hello(A, "bob").body["code"] == "identity_mismatch"  # a connection is bound to one name
    assert h.hello(B, "ada").body["code"] == "name_taken"


def test_silent_agent_goes_missing_then_is_removed_and_comes_back_to_its_canvas(h):
    h.hello(A, "ada")
    h.ops(A, "ada", "pen down\nmove right 2")
    h.clock.now += 1.5
    h.studio.tick()
    assert h.outbox.last(A).type == "heartbeat"
    h.clock.now += 2.0
    h.studio.tick()
    assert h.outbox.events("missing")[-1].body["agent"] == "ada"
    assert h.studio.sessions.status_of("ada") == "missing"
    # a missing agent's name may be taken over by its reconnecting self, on a new connection
    reply = h.hello(B, "ada")
    assert reply.type == "welcome" and reply.body["state"]["cursor"] == [18, 8]
    assert h.outbox.events("left")[-1].body["data"]["reason"] == "replaced"
    h.clock.now += 11
    h.studio.tick()
    assert h.outbox.events("left")[-1].body["data"]["reason"] == "timeout"
    assert h.studio.sessions.status_of("ada") == "away"
    assert "ada" in h.studio.canvases  # the canvas outlives the session


def test_a_missing_agent_that_speaks_again_is_live(h):
    h.hello(A, "ada")
    h.clock.now += 3.5
    h.studio.tick()
    h.send(A, "heartbeat", {}, "ada")
    assert h.studio.sessions.status_of("ada") == "live"
    assert h.outbox.events()[-1].body["kind"] == "joined"


def test_bye_frees_the_name_at_once(h):
    h.hello(A, "ada")
    h.studio.on_agent_frames([A, encode(Message("bye", {}, "ada"))])
    assert h.outbox.events("left")[-1].body["data"]["reason"] == "bye"
    assert h.hello(B, "ada").type == "welcome"


def test_snapshot_holds_every_canvas_at_the_current_sequence(h):
    h.hello(A, "ada")
    h.hello(B, "bob")
    h.ops(A, "ada", "pen down\nmove right 2")
    h.studio.on_snapshot_frames([b"viewer", encode(Message("snapshot_request", {"agent": None}, "viewer"))])
    route, snap = h.outbox.answered[-1]
    assert route == b"viewer" and snap.type == "snapshot"
    assert snap.body["seq"] == h.studio.seq
    assert set(snap.body["canvases"]) == {"ada", "bob"}
    assert snap.body["canvases"]["ada"]["cells"] == h.studio.canvases["ada"].rows()
    assert snap.body["canvases"]["ada"]["status"] == "live"
    h.studio.on_snapshot_frames([b"viewer", encode(Message("snapshot_request", {"agent": "bob"}, "viewer"))])
    assert set(h.outbox.answered[-1][1].body["canvases"]) == {"bob"}
    h.studio.on_snapshot_frames([b"viewer", b"junk"])
    assert h.outbox.answered[-1][1].body["code"] == "bad_encoding"


def test_too_many_ops_in_one_decision_are_rejected_past_the_limit(h):
    h.hello(A, "ada")
    reply = h.ops(A, "ada", "\n".join(["move up"] * 70))
    assert len(reply.body["applied"]) == 64
    assert {r["code"] for r in reply.body["rejected"]} == {"too_many_ops"}


def test_status_and_statement_are_published_and_the_snapshot_keeps_the_activity(h):
    h.hello(A, "ada")
    h.send(A, "status", {"activity": "resting", "until": 1234.5, "reason": "tokens_per_hour"}, "ada")
    status = h.outbox.events("status")[-1]
    assert status.body["data"] == {"activity": "resting", "until": 1234.5, "reason": "tokens_per_hour"}
    assert h.send(A, "status", {"activity": "flying"}, "ada").body["code"] == "bad_field"
    # a statement is about a finished work only
    assert h.send(A, "statement", {"work": 1, "text": "too soon"}, "ada").body["code"] == "bad_field"
    h.ops(A, "ada", 'pen down\ntitle "Dawn"\ndone')
    h.send(A, "statement", {"work": 1, "text": "  light   on water "}, "ada")
    assert h.outbox.events("statement")[-1].body["data"] == {"work": 1, "text": "light on water"}
    h.studio.on_snapshot_frames([b"v", encode(Message("snapshot_request", {"agent": "ada"}, "v"))])
    assert h.outbox.answered[-1][1].body["canvases"]["ada"]["activity"]["activity"] == "resting"


def test_remember_is_kept_by_the_agent_and_never_published(h):
    h.hello(A, "ada")
    before = len(h.outbox.published)
    reply = h.ops(A, "ada", 'remember "a secret"')
    assert reply.body["applied"] == ['remember "a secret"'] and reply.body["state"]["ops"] == 0
    assert len(h.outbox.published) == before


def test_each_agent_chooses_how_its_view_is_drawn(h):
    plain = h.send(A, "hello", {"agent": "ada", "protocol": "1.1", "view": {"coords": False, "cursor": False}},
                   "ada")
    assert plain.body["view"].splitlines()[0] == "." * 32 and "@" not in plain.body["view"]
    assert "@" not in h.ops(A, "ada", "move up").body["view"]
    framed = h.hello(B, "bob")
    assert framed.body["view"].splitlines()[0].startswith("   0123") and "@" in framed.body["view"]
    assert h.send(b"c", "hello", {"agent": "cy", "protocol": "1.1", "view": {"zoom": True}}, "cy").body["code"] \
        == "bad_field"


def test_every_interval_the_studio_publishes_a_tick_with_its_seq_and_the_tick_takes_no_seq(h):
    h.hello(A, "ada")
    h.ops(A, "ada", "pen down\nmove right 2")
    seq = h.studio.seq
    h.studio.tick()
    assert h.outbox.ticks == []  # the first one is due an interval after the start
    for _ in range(4):
        h.clock.now += 0.5
        h.studio.tick()
    assert [(topic, m.type, m.body) for topic, m in h.outbox.ticks] == [("studio.tick", "tick", {"seq": seq})] * 2
    assert h.studio.seq == seq
    h.ops(A, "ada", "move up")
    assert h.outbox.events()[-1].body["seq"] == seq + 1  # the ticks took no number
    h.clock.now += 3.5  # ada falls silent: the tick of this sweep carries the seq of its `missing` event
    h.studio.tick()
    assert h.outbox.events()[-1].body["kind"] == "missing"
    assert h.outbox.ticks[-1][1].body["seq"] == h.studio.seq == seq + 2
    h.clock.now += 0.5  # after a stall the schedule starts again from then, with no burst of late ticks
    h.studio.tick()
    assert len(h.outbox.ticks) == 3


def test_a_connection_whose_key_is_for_one_agent_may_say_hello_as_that_agent_only(h):
    """`user`: the name the connection's CurveZMQ key is authorized under (ZAP User-Id); None on plaintext."""
    hello = {"agent": "bob", "protocol": PROTOCOL_VERSION}
    h.studio.on_agent_frames([A, encode(Message("hello", hello, "bob"))], user="ada")
    refused = h.outbox.last(A)
    assert refused.type == "error" and refused.body["code"] == "identity_mismatch"
    assert "authorized as 'ada'" in refused.body["reason"] and "bob" not in h.studio.sessions.by_agent
    h.studio.on_agent_frames([B, encode(Message("hello", hello, "bob"))], user="bob")
    assert h.outbox.last(B).type == "welcome"
