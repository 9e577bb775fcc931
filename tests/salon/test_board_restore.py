"""The board a restarted canvas starts from, read from a real record (services/recorder/store.py salon_events),
however long the salon has run: the newest posts with all their answers, each agent's last acts whatever their
post, never a post number given twice; a corrupt entry is reported and skipped, never a failed start. And the
board's own rules: a reaction replaces its author's earlier one; news costs what is new."""

from __future__ import annotations

import json

from proto.canvas import CanvasModel
from proto.ops.parser import parse_line
from services.recorder.store import salon_events
from services.salon.board import POSTS_KEPT, Board, SalonLimits

NOW = 10_000.0


def add(db, seq: int, agent: str, kind: str, data: dict) -> None:
    db.xadd("aurora:salon", {"agent": agent, "kind": kind, "data": json.dumps({**data, "at": NOW})}, id=f"{seq}-0")


def restored(db, canvases=None, corrupt=None) -> Board:
    board = Board(clock=lambda: NOW + 1)
    for seq, agent, kind, data in salon_events(db, canvases or {}, corrupt):
        board.on_event(seq, agent, kind, data)
    return board


def test_a_long_salon_is_restored_with_its_newest_posts_their_answers_and_every_agent_s_last_act(record_db):
    seq = 0
    for post in range(1, POSTS_KEPT + 51):  # more posts than the board holds
        seq += 1
        add(record_db, seq, "ada" if post % 2 else "bob", "post", {"post": post, "work": post, "title": f"w{post}"})
    seq += 1
    add(record_db, seq, "cy", "reply", {"post": 3, "text": "to an old post"})  # its post is gone: still cy's last act
    for n in range(4010):  # far more answers than posts
        seq += 1
        add(record_db, seq, f"r{n % 7}", "react", {"post": POSTS_KEPT + 50, "word": "joy"})
    board = restored(record_db)
    assert sorted(board.posts) == list(range(51, POSTS_KEPT + 51))
    assert board.next_post == POSTS_KEPT + 51  # the newest post is known: no number is given twice
    assert board.posted == {"ada": POSTS_KEPT + 49, "bob": POSTS_KEPT + 50}
    assert len(board.posts[POSTS_KEPT + 50].reacts) == 7  # one reaction per agent: the last of each
    assert board.refusal("cy", parse_line('reply 60 "again"')).code == "salon_limited"  # its limit holds


def test_a_corrupt_salon_entry_is_reported_and_skipped_and_the_rest_restored(record_db):
    add(record_db, 1, "ada", "post", {"post": 1, "work": 1, "title": "kept"})
    record_db.xadd("aurora:salon", {"agent": "bob", "kind": "reply", "data": "{not json"}, id="2-0")
    record_db.xadd("aurora:salon", {"kind": "reply"}, id="3-0")
    record_db.hset("aurora:work:ada:1", mapping={"done_seq": 1, "work": 1, "title": "", "cells": "[oops"})
    canvas = CanvasModel()
    canvas.new_work(2)
    reports = []
    board = restored(record_db, {"ada": canvas}, lambda key, entry_id, reason: reports.append((key, entry_id)))
    assert [p.title for p in board.posts.values()] == ["kept"]
    assert reports == [("aurora:work:ada:1", ""), ("aurora:salon", "3-0"), ("aurora:salon", "2-0")]


def test_a_reaction_replaces_its_author_s_earlier_one_and_news_says_only_what_is_new():
    board = Board(default=SalonLimits(react_seconds=1), clock=lambda: NOW)
    board.on_event(1, "ada", "post", {"post": 1, "work": 1, "title": "t", "thumb": [], "at": NOW})
    board.on_event(2, "bob", "react", {"post": 1, "word": "joy", "at": NOW})
    board.on_event(3, "bob", "react", {"post": 1, "word": "calm", "at": NOW})
    board.on_event(4, "cy", "reply", {"post": 1, "text": "hi", "at": NOW})
    assert board.posts[1].reactions == {"calm": 1}
    news = board.news_for("ada", 2, 10)
    assert [(i["kind"], i.get("word") or i.get("text")) for i in news] == [("react", "calm"), ("reply", "hi")]
    assert [i["kind"] for i in board.news_for("bob", 0, 10)] == ["post", "reply"]  # never its own
    assert board.news_for("ada", 4, 10) == []
    assert not board.on_event(5, "eve", "reply", {"post": 1, "text": 7, "at": NOW})  # not as the protocol says
    assert not board.on_event(6, "eve", "react", {"post": 1, "word": "x", "at": float("inf")})
    assert board.counters["salon_events_unfit"] == 2 and len(board.posts[1].replies) == 1
