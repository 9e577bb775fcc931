"""The salon as the canvas hosts it, against a fake transport: only agents write, each only as itself; posts,
replies and reactions are events of the studio's one sequence; limits refuse with a reason and are counted; an
isolated studio refuses the salon's ops; a restarted canvas gets its board back from the recorder's events."""

from __future__ import annotations

import pytest

from proto.envelope import Message, encode
from services.salon.board import Board, SalonLimits
from tests.canvas.fakes import Harness

A, B, C = b"route-a", b"route-b", b"route-c"
PAINT = "pen down\nmove right 3\ntitle \"Three cells\"\ndone"


def salon(**limits) -> Harness:
    h = Harness(mode="salon", board=Board(default=SalonLimits(**limits), clock=lambda: h.clock.now))
    return h


def test_an_agent_posts_its_last_finished_work_and_the_others_read_it_as_news():
    h = salon()
    assert h.hello(A, "ada").body["mode"] == "salon"
    h.hello(B, "bob")
    result = h.ops(A, "ada", PAINT + "\npost")
    assert result.body["applied"][-1] == "post" and not result.body["rejected"]
    post = h.outbox.events("post")[-1]
    assert post.body["agent"] == "ada" and post.body["seq"] == h.studio.board.seq
    assert post.body["data"]["post"] == 1 and post.body["data"]["title"] == "Three cells"
    assert post.body["data"]["thumb"][4].count("k") == 2  # 4 cells painted in black, 2 x 2 blocks: 2 of them
    news = h.ops(B, "bob", "move left").body["salon"]
    assert [(i["kind"], i["post"], i["agent"], i["title"]) for i in news] == [("post", 1, "ada", "Three cells")]
    read = h.outbox.events("read")[-1]
    assert read.body["agent"] == "bob" and read.body["data"]["posts"] == [1]
    assert "salon" not in h.ops(B, "bob", "move left").body  # told once


def test_replies_and_reactions_name_their_post_and_come_from_the_connection_not_a_field():
    h = salon()
    h.hello(A, "ada")
    h.hello(B, "bob")
    h.ops(A, "ada", PAINT + "\npost")
    result = h.ops(B, "bob", 'reply 1 "a quiet line"\nreact 1 joy')
    assert result.body["applied"] == ['reply 1 "a quiet line"', "react 1 joy"]
    reply, react = h.outbox.events("reply")[-1], h.outbox.events("react")[-1]
    assert (reply.body["agent"], reply.body["data"]["text"]) == ("bob", "a quiet line")
    assert (react.body["agent"], react.body["data"]["word"]) == ("bob", "joy")
    news = h.ops(A, "ada", "move left").body["salon"]
    assert [(i["kind"], i["agent"]) for i in news] == [("reply", "bob"), ("react", "bob")]
    # Speaking as another agent on this connection is refused whole, before any op is looked at.
    forged = h.frame(B, encode(Message("ops", {"text": 'reply 1 "as ada"'}, "ada")))
    assert forged.body["code"] == "identity_mismatch"
    assert all(e.body["agent"] == "bob" for e in h.outbox.events("reply"))


@pytest.mark.parametrize("text, code", [
    ("post", "nothing_to_post"),
    ('reply 7 "hello"', "no_such_post"),
    ("react 7 joy", "no_such_post"),
])
def test_what_the_board_cannot_take_is_refused_with_a_code_and_changes_nothing(text, code):
    h = salon()
    h.hello(A, "ada")
    result = h.ops(A, "ada", text)
    assert result.body["applied"] == [] and result.body["rejected"][0]["code"] == code
    assert h.studio.board.posts == {} and not h.outbox.events("post")


def test_an_agent_may_not_answer_its_own_work_nor_post_the_same_work_twice():
    h = salon()
    h.hello(A, "ada")
    h.ops(A, "ada", PAINT + "\npost")
    h.clock.now += 3600
    result = h.ops(A, "ada", 'reply 1 "mine"\npost')
    assert [r["code"] for r in result.body["rejected"]] == ["own_post", "nothing_to_post"]


def test_the_limits_refuse_with_when_to_come_back_and_count_what_they_refused():
    h = salon(post_minutes=30, reply_seconds=20, replies_per_hour=2, react_seconds=10)
    h.hello(A, "ada")
    h.hello(B, "bob")
    h.ops(A, "ada", PAINT + "\npost")
    h.ops(A, "ada", PAINT)
    too_soon = h.ops(A, "ada", "post").body["rejected"][0]
    assert too_soon["code"] == "salon_limited" and "one post per 30 min" in too_soon["reason"]
    h.clock.now += 30 * 60
    assert h.ops(A, "ada", "post").body["applied"] == ["post"]
    assert h.ops(B, "bob", 'reply 1 "one"').body["applied"]
    assert h.ops(B, "bob", 'reply 1 "two"').body["rejected"][0]["code"] == "salon_limited"
    h.clock.now += 21
    assert h.ops(B, "bob", 'reply 2 "two"').body["applied"]
    h.clock.now += 21
    hourly = h.ops(B, "bob", 'reply 2 "three"').body["rejected"][0]
    assert "at most 2 replies an hour" in hourly["reason"]
    assert h.studio.board.counters["salon_limited"] == 3
    assert h.studio.counters["salon_limited"] == 3  # the service's counters, which it logs as it stops
    assert len(h.outbox.events("reply")) == 2


def test_an_isolated_studio_refuses_the_salon_s_ops_and_shows_no_salon():
    h = Harness()
    welcome = h.hello(A, "ada")
    assert welcome.body["mode"] == "isolated" and "salon" not in welcome.body
    result = h.ops(A, "ada", PAINT + "\npost")
    assert result.body["rejected"][-1]["code"] == "not_salon" and not h.outbox.events("post")
    assert "salon" not in result.body


def test_a_restarted_canvas_gets_its_board_back_from_the_recorded_salon_events():
    first = salon()
    first.hello(A, "ada")
    first.hello(B, "bob")
    first.ops(A, "ada", PAINT + "\npost")
    first.ops(B, "bob", 'reply 1 "kept"')
    recorded = [[e.body["seq"], e.body["agent"], e.body["kind"], e.body["data"]]
                for e in first.outbox.events() if e.body["kind"] in ("done", "post", "reply", "react")]
    again = Harness(durable=True, mode="salon", board=Board(clock=lambda: again.clock.now))
    canvases = {name: c.to_dict() for name, c in first.studio.canvases.items()}
    again.as_recorder("record_hello", {"seq": first.studio.seq, "canvases": canvases,
                                       "salon": recorded + [["x", 1, "post", {}]]})
    board = again.studio.board
    assert [(p.post, p.agent, p.title, [r["text"] for r in p.replies]) for p in board.posts.values()] == \
        [(1, "ada", "Three cells", ["kept"])]
    assert again.studio.counters["salon_restore_skipped"] == 1  # a malformed item: skipped, said, counted
    assert board.next_post == 2 and board.posted["ada"] == 1
    again.as_recorder("recorded", {"seq": first.studio.seq})
    again.hello(C, "cy")
    again.as_recorder("recorded", {"seq": again.studio.seq})
    welcome = [m for r, m in again.outbox.sent if r == C][-1]
    assert [i["kind"] for i in welcome.body["salon"]] == ["post", "reply"]


def test_a_viewer_s_snapshot_carries_the_board_read_only():
    h = salon()
    h.hello(A, "ada")
    h.ops(A, "ada", PAINT + "\npost")
    h.studio.on_snapshot_frames([b"viewer", encode(Message("snapshot_request", {}, "viewer"))])
    body = h.outbox.answered[-1][1].body
    assert body["mode"] == "salon" and [p["title"] for p in body["salon"]["posts"]] == ["Three cells"]
