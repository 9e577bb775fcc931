"""The salon as the gateway follows it, in-process: the replica keeps the board from a snapshot and the events
after it, exactly as the canvas holds it (services/salon/board.py's own rules); what is not as the protocol says
is counted, never raised; the hub hands the board to viewers in their snapshot and each changed post in a
`salon` message (in-process, the canvas being tests/canvas/fakes.py's Harness). Then over real processes: a
canvas in salon mode, `aurora gateway`, two scripted agents on real connections; the API and the WebSocket
show what the canvas holds, and every write from the web is refused with 405."""

from __future__ import annotations

import json
import time

import zmq

from proto.envelope import Message, encode
from services.audio_gateway import messages
from services.audio_gateway.salon import REPLIES_LISTED, board_view, changed_post, salon_of
from services.canvas.client import CanvasClient
from services.canvas.replica import Replica
from services.salon.board import Board, SalonLimits
from tests.audio_gateway.support import Listener, gateway_process
from tests.audio_gateway.test_api import fresh_snapshot
from tests.audio_gateway.test_hub import make_hub, queued, snap, viewer
from tests.canvas.fakes import Harness
from tests.support.processes import canvas_process, wait_until

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
                                (14, "reply", {"post": 99, "text": "to nothing", "at": 2.0}),
                                (15, "reply", {"post": 3, "text": ["not", "text"]}),
                                (16, "reply", {"post": 3, "text": "when?", "at": float("nan")}),
                                (17, "post", {"post": 4, "work": 2, "title": 7, "thumb": []}),
                                (18, "post", {"post": 4, "work": 2, "title": "t", "thumb": [1, 2]}),
                                (19, "react", {"post": 3, "word": None})]:
            replica.apply(Message("event", {"seq": seq, "agent": "bob", "kind": kind, "data": data}, "canvas"))
        assert replica.counters["salon_unapplied"] == 8 and replica.seq == 19
        assert replica.board.counters["salon_events_unplaced"] == 1  # the reply to a post the board let go
        assert [r["text"] for r in replica.board.posts[3].replies] == ["hi", "kept"]
        assert changed_post(replica, {"data": {"post": 99}}) is None
        assert changed_post(replica, {"data": "nonsense"}) is None
        for bad in (None, "salon", {"posts": "many"}, {"seq": "x", "posts": []}):
            assert Board.from_snapshot(bad).posts == {}
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


# -- over real processes: a canvas in salon mode, `aurora gateway`, agents on real connections ------------


def agent(name: str, addrs) -> CanvasClient:
    """A SCRIPTED, NON-LLM agent: a real connection to the canvas, sending ops this test wrote."""
    client = CanvasClient(name, addrs.agents, context=zmq.Context.instance())
    client.connect_with_backoff(deadline=time.monotonic() + 20)
    return client


def refused_every_write(gateway, paths) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in paths:
            response = gateway.http.request(method, path, json={"title": "from the web", "text": "hi"})
            assert response.status_code == 405, (method, path, response.text)
            assert response.headers["allow"] == "GET, HEAD"
            body = response.json()
            assert "only by its agents" in body["detail"] and "humans read" in body["detail"]
            assert body["method"] == method


WRITES = ("/api/salon", "/api/salon/", "/api/salon/1", "/api/salon/1/replies", "/api/salon/1/react/joy")


def test_the_gateway_serves_the_salon_live_and_read_only():
    with canvas_process("--mode", "salon") as (_, addrs):
        with gateway_process(addrs) as gateway:
            viewer = Listener(gateway.ws_url)
            wait_until(lambda: viewer.of_type("snapshot"), what="a snapshot")
            first = viewer.of_type("snapshot")[0]
            assert (first["mode"], first["salon"]["posts"]) == ("salon", [])
            assert gateway.json("/api/salon") == {"mode": "salon", "seq": 0, "posts": []}

            ada, bob = agent("ada", addrs), agent("bob", addrs)
            try:
                assert ada.decide(PAINT + "\npost")["applied"][-1] == "post"
                answered = bob.decide('reply 1 "<img src=x onerror=alert(1)> a quiet line"\nreact 1 joy')
                assert len(answered["applied"]) == 2, answered["rejected"]
                assert bob.decide(PAINT + "\npost")["applied"][-1] == "post"
                assert ada.decide('reply 2 "yours too"')["applied"]
            finally:
                ada.close()
                bob.close()
            canvas = fresh_snapshot(addrs)  # the canvas's own board
            gateway.wait_for_seq(canvas.seq)

            listing = gateway.json("/api/salon")
            assert listing["mode"] == "salon" and listing["seq"] == canvas.board.seq
            assert [(p["post"], p["agent"], p["title"]) for p in listing["posts"]] == \
                [(2, "bob", "Three cells"), (1, "ada", "Three cells")]
            held = canvas.board.snapshot()["posts"]
            assert [{k: v for k, v in p.items() if k != "replies_total"} for p in listing["posts"]] == held
            one = gateway.json("/api/salon/1")
            assert [(r["agent"], r["text"]) for r in one["replies"]] == \
                [("bob", "<img src=x onerror=alert(1)> a quiet line")]
            assert one["reactions"] == {"joy": 1} and one["thumb"] == canvas.board.posts[1].thumb
            assert gateway.json("/api/salon", params={"limit": 1})["posts"][0]["post"] == 2
            for bad in ({"limit": 0}, {"limit": 201}, {"limit": "many"}):
                assert gateway.get("/api/salon", params=bad).status_code == 422, bad
            assert gateway.get("/api/salon/3").status_code == 404
            for bad in ("0", "x", str(1 << 70), "-1"):
                assert gateway.get(f"/api/salon/{bad}").status_code == 422, bad
            refused_every_write(gateway, WRITES)
            assert gateway.json("/api/salon/1") == one  # nothing the web sent changed the salon

            # the viewer saw every salon event, each followed by the post it changed
            wait_until(lambda: viewer.seq() >= canvas.seq, what="the viewer at the studio's seq")
            salon = viewer.of_type("salon")
            changed = [e for e in viewer.of_type("event") if e["kind"] in ("post", "reply", "react")]
            assert [m["seq"] for m in salon] == [e["seq"] for e in changed] and len(salon) == 5
            kinds = [m["type"] for _, m in viewer.messages]
            assert all(kinds[i - 1] == "event" for i, kind in enumerate(kinds) if kind == "salon")
            assert salon[-1]["post"] == gateway.json("/api/salon/2")
            viewer.close()

            late = Listener(gateway.ws_url)  # a viewer that joins now gets the board in its snapshot
            wait_until(lambda: late.of_type("snapshot"), what="a late snapshot")
            assert late.of_type("snapshot")[0]["salon"] == {"seq": listing["seq"], "posts": listing["posts"]}
            late.close()
            spec = gateway.json("/openapi.json")
            assert set(spec["paths"]["/api/salon"]) == {"get"} and set(spec["paths"]["/api/salon/{post}"]) == {"get"}
            assert gateway.health()[0] == 200  # none of it hurt the gateway


def test_an_isolated_studio_s_gateway_says_so_and_refuses_writes_all_the_same():
    with canvas_process() as (_, addrs):
        with gateway_process(addrs) as gateway:
            assert gateway.json("/api/salon") == {"mode": "isolated", "seq": 0, "posts": []}
            missing = gateway.get("/api/salon/1")
            assert missing.status_code == 404 and "isolated" in missing.json()["detail"]
            refused_every_write(gateway, WRITES)
            viewer = Listener(gateway.ws_url)
            wait_until(lambda: viewer.of_type("snapshot"), what="a snapshot")
            snapshot = viewer.of_type("snapshot")[0]
            assert snapshot["mode"] == "isolated" and "salon" not in snapshot
            viewer.close()
