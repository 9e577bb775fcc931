"""The salon as the gateway follows it, in-process: the replica keeps the board from a snapshot and the events
after it, exactly as the canvas holds it (services/salon/board.py's own rules); what is not as the protocol says
is counted, never raised; the hub hands the board to viewers in their snapshot and each changed post in a
`salon` message. No sockets: the canvas is tests/canvas/fakes.py's Harness."""

from __future__ import annotations

import json

from proto.envelope import Message, encode
from services.audio_gateway import messages
from services.audio_gateway.salon import REPLIES_LISTED, board_view, changed_post, salon_of
from services.canvas.replica import Replica, salon_board
from services.salon.board import Board, SalonLimits
from tests.audio_gateway.test_hub import make_hub, queued, snap, viewer
from tests.canvas.fakes import Harness

A, B = b"route-a", b"route-b"
PAINT = 'pen down\nmove right 3\ntitle "Three cells"\ndone'
NOWHERE = "tcp://127.0.0.1:1"  # the replica's sockets connect lazily: nothing is ever read from here


def salon_harness() -> Harness:
    h = Harness(mode="salon", board=Board(default=SalonLimits(0, 0, 1000, 0), clock=lambda: h.clock.now))
    h.hello(A, "ada")
    h.hello(B, "bob")
    return h


def snapshot_body(h: Harness) -> dict:
    h.studio.on_snapshot_frames([b"viewer", encode(Message("snapshot_request", {}, "viewer"))])
    return h.outbox.answered[-1][1].body


def replica_of(body: dict) -> Replica:
    replica = Replica(NOWHERE, NOWHERE)
    replica.load(body)
    return replica


def follow(replica: Replica, h: Harness) -> None:
    """Apply every event the harness published after the replica's seq."""
    for msg in h.outbox.events():
        if msg.body["seq"] > replica.seq:
            replica.apply(msg)


def test_the_replica_keeps_the_board_from_the_snapshot_and_the_events_after_it():
    h = salon_harness()
    h.ops(A, "ada", PAINT + "\npost")
    h.ops(B, "bob", 'reply 1 "a quiet line"\nreact 1 joy')
    replica = replica_of(snapshot_body(h))  # joins late: the board so far from the snapshot
    try:
        assert replica.mode == "salon" and replica.board.snapshot() == h.studio.board.snapshot()
        h.ops(B, "bob", PAINT + "\npost")
        h.ops(A, "ada", 'reply 2 "and yours"\nreact 2 calm\nreact 1 joy')  # ada may not answer her own: refused
        for n in range(25):
            h.ops(B, "bob", f'reply 1 "line {n}"')
        follow(replica, h)
        assert replica.board.snapshot() == h.studio.board.snapshot()
        assert replica.counters["salon_unapplied"] == 0

        view = board_view(replica, 10)
        assert (view["mode"], view["seq"]) == ("salon", h.studio.board.seq)
        assert [(p["post"], p["agent"], p["title"]) for p in view["posts"]] == [(2, "bob", "Three cells"),
                                                                              (1, "ada", "Three cells")]
        first = view["posts"][1]
        assert first["replies_total"] == 26 and len(first["replies"]) == REPLIES_LISTED
        assert first["replies"][-1]["text"] == "line 24" and first["reactions"] == {"joy": 1}
        assert view["posts"][0]["reactions"] == {"calm": 1} and view["posts"][0]["replies"][0]["agent"] == "ada"
        assert board_view(replica, 1)["posts"][0]["post"] == 2

        mode, board = salon_of(replica)
        assert mode == "salon" and board["posts"] == view["posts"]
        last = h.outbox.events("reply")[-1].body
        assert changed_post(replica, last)["replies_total"] == 26
    finally:
        replica.close()


def test_an_isolated_studio_has_no_board_for_viewers():
    h = Harness()
    h.hello(A, "ada")
    h.ops(A, "ada", PAINT + "\npost")  # refused: not_salon
    replica = replica_of(snapshot_body(h))
    try:
        assert replica.mode == "isolated" and replica.board.posts == {}
        assert salon_of(replica) == ("isolated", None)
        assert board_view(replica, 20) == {"mode": "isolated", "seq": 0, "posts": []}
    finally:
        replica.close()


def test_salon_events_and_snapshots_that_are_not_as_the_protocol_says_are_counted_not_raised():
    replica = Replica(NOWHERE, NOWHERE)
    try:
        good = {"post": 3, "agent": "ada", "work": 1, "title": "<b>x</b>", "thumb": ["k."], "seq": 5, "at": 1.0,
                "replies": [{"agent": "bob", "text": "hi", "seq": 6}], "reactions": {"joy": 2}}
        replica.load({"seq": 9, "canvases": {}, "mode": "salon",
                      "salon": {"seq": 7, "posts": [good, {"post": "x"}, "not a post", {**good, "post": 2,
                                                                                        "reactions": {"a": "b"}}]}})
        assert list(replica.board.posts) == [3] and replica.board.seq == 7
        assert replica.counters["salon_snapshot_skipped"] == 3
        assert replica.board.posts[3].reactions == {"joy": 2}
        assert replica.board.next_post == 4
        for seq, kind, data in [(10, "post", {"post": "nine"}), (11, "reply", None), (12, "react", "joy"),
                                (13, "reply", {"post": 3, "text": "kept", "at": 2.0}),
                                (14, "reply", {"post": 99, "text": "to nothing", "at": 2.0})]:
            replica.apply(Message("event", {"seq": seq, "agent": "bob", "kind": kind, "data": data}, "canvas"))
        assert replica.counters["salon_unapplied"] == 3 and replica.seq == 14
        assert [r["text"] for r in replica.board.posts[3].replies] == ["hi", "kept"]
        assert changed_post(replica, {"data": {"post": 99}}) is None
        assert changed_post(replica, {"data": "nonsense"}) is None
        for bad in (None, "salon", {"posts": "many"}, {"seq": "x", "posts": []}):
            assert salon_board(bad).posts == {}
        replica.load({"seq": 1, "canvases": {}, "mode": "<script>"})  # a mode no studio has: isolated
        assert replica.mode == "isolated" and replica.board.posts == {}
    finally:
        replica.close()


def test_the_hub_gives_the_board_in_a_snapshot_and_each_changed_post_in_a_salon_message():
    hub, _ = make_hub()
    v = viewer()
    hub.join(v)
    board = {"seq": 4, "posts": [{"post": 1, "agent": "ada", "title": "Three cells"}]}
    hub.deliver([("snapshot", 3, {}, False, ("salon", board))])
    post = {"post": 1, "agent": "ada", "title": "Three cells", "replies": [{"agent": "bob", "text": "<i>", "seq": 5}]}
    hub.deliver([("salon", messages.salon(5, post))])
    first, second = queued(v)
    assert (first["type"], first["mode"], first["salon"]) == ("snapshot", "salon", board)
    assert second == {"type": "salon", "seq": 5, "post": post}
    late = viewer()
    hub.join(late)
    hub.deliver([snap(6)])
    only = queued(late)[0]
    assert only["mode"] == "isolated" and "salon" not in only
    assert json.loads(messages.snapshot(1, {}, []))["mode"] == "isolated"
