"""The recorder's handlers against a real valkey and a fake canvas link: batches stored in one transaction
with what derives from them, duplicates and gaps, refused writes, and a restart that resumes the record."""

from __future__ import annotations

import json

import pytest

from proto.canvas import CanvasModel
from proto.envelope import decode, encode
from proto.events import record_item
from proto.topics import encode_event
from services.recorder.main import Recorder
from services.recorder.store import Store
from tests.canvas.fakes import FakeClock

class Studio:
    """Real events, made the way the canvas makes them (CanvasModel.apply, encode_event, record_item)."""

    def __init__(self) -> None:
        self.seq = 0
        self.canvases: dict[str, CanvasModel] = {}

    def event(self, agent: str, kind: str, data: dict) -> list:
        """The record item of a new event, as the canvas sends it."""
        self.seq += 1
        return record_item(self.seq, agent, kind, data, encode_event(self.seq, agent, kind, data, "canvas", None)[1])

    def ops(self, agent: str, *lines: str) -> list[list]:
        out = []
        if agent not in self.canvases:
            c = self.canvases[agent] = CanvasModel()
            out.append(self.event(agent, "new", {"work": 1, "width": c.width, "height": c.height}))
        for line in lines:
            out += [self.event(agent, kind, data) for kind, data in self.canvases[agent].apply_text(line)]
        return out


@pytest.fixture
def db(record_db):
    return record_db


@pytest.fixture
def rec(db):
    sent: list = []
    clock = FakeClock()
    recorder = Recorder(Store(db), lambda frame: sent.append(decode(frame, limit=1 << 28)), clock=clock)
    recorder.sent_messages, recorder.clock_ = sent, clock
    recorder.hello()
    return recorder


def feed(rec: Recorder, items: list[list], snapshots: list | None = None) -> None:
    """A `record` batch from the canvas, with the canvases it sends whole (PROTOCOL.md section 11)."""
    from proto.envelope import Message

    body = {"events": items, **({"snapshots": snapshots} if snapshots else {})}
    rec.on_frame(encode(Message("record", body, "canvas")))
    rec.store_backlog()  # as the service loop does after each wake-up


def last(rec: Recorder):
    return rec.sent_messages[-1]


def test_a_blank_record_says_hello_with_nothing(rec):
    assert last(rec).type == "record_hello" and last(rec).body == {"seq": 0, "canvases": {}, "salon": []}


def test_a_batch_is_stored_with_everything_the_study_needs(rec, db):
    s = Studio()
    feed(rec, s.ops("ada", "color red", "pen down", "move right 2", "note C4 quarter 90", "feel calm",
                    "feel calm", "feel lost", 'title "Red"', "done"), [["ada", s.canvases["ada"].to_dict()]])
    feed(rec, [s.event("ada", "rejected", {"text": "bogus", "code": "unknown_op", "reason": "no such op"}),
               s.event("ada", "statement", {"work": 1, "text": "a red line"})])
    assert last(rec).type == "recorded" and last(rec).body["seq"] == s.seq
    ids = [entry_id.decode() for entry_id, _ in db.xrange("aurora:events")]
    assert ids == [f"{n}-0" for n in range(1, s.seq + 1)]  # every event, in order, no gap
    [(_, note)] = db.xrange("aurora:notes:ada")
    assert (note[b"pitch"], note[b"color"], note[b"x"], note[b"work"]) == (b"C4", b"red", b"18", b"1")
    assert db.hgetall("aurora:feelings:ada") == {b"calm": b"2", b"lost": b"1"}
    facts = db.hgetall("aurora:facts:ada")
    assert (facts[b"ops_applied"], facts[b"ops_rejected"], facts[b"works"], facts[b"notes"]) == \
        (b"9", b"1", b"1", b"1")
    work = db.hgetall("aurora:work:ada:1")
    assert work[b"title"] == b"Red" and work[b"statement"] == b"a red line"
    assert work[b"png"].startswith(b"\x89PNG") and json.loads(work[b"cells"])[8][16:19] == "rrr"
    [(snapshot_id, snapshot)] = db.xrange("aurora:snapshots:ada")  # the canvas sent it with its batch
    assert snapshot_id == b"11-0" and snapshot[b"digest"].decode() == s.canvases["ada"].digest()
    assert db.hget("aurora:recorder", "seq") == str(s.seq).encode()


def test_a_duplicate_is_confirmed_not_stored_and_a_gap_asks_the_canvas_again(rec, db):
    s = Studio()
    first = s.ops("ada", "pen down")
    feed(rec, first)
    feed(rec, first)
    assert last(rec).body == {"seq": 2} and db.xlen("aurora:events") == 2
    s.ops("ada", "move up")  # seq 3, never sent: lost on the way
    feed(rec, s.ops("ada", "move down"))
    assert last(rec).type == "record_hello" and last(rec).body == {"seq": 2, "canvases": None}
    assert db.xlen("aurora:events") == 2 and rec.counters["gaps"] == 1


def test_a_refused_write_is_not_confirmed_and_is_retried_until_redis_takes_it(rec, db, caplog):
    s = Studio()
    feed(rec, s.ops("ada", "pen down"))
    db.config_set("min-replicas-to-write", 1)  # valkey now refuses every write (NOREPLICAS), as a full disk would
    try:
        feed(rec, s.ops("ada", "move right"))
        assert last(rec).body == {"seq": 2}  # the first batch's answer; nothing confirms the second
        assert [m.type for m in rec.sent_messages].count("recorded") == 1
        assert "Redis refused a write" in caplog.text and rec.failing
        rec.clock_.now += 10
        rec.tick()  # still refused: said once, not at every retry
        assert caplog.text.count("Redis refused a write") == 1
    finally:
        db.config_set("min-replicas-to-write", 0)
    rec.clock_.now += 60
    rec.tick()
    assert last(rec).type == "recorded" and last(rec).body == {"seq": 3}
    assert db.xlen("aurora:events") == 3 and rec.failing is None


def test_a_full_redis_refuses_writes_and_the_recorder_says_it_is_full_and_what_to_do(rec, db, caplog):
    s = Studio()
    feed(rec, s.ops("ada", "pen down"))
    ceiling = db.config_get("maxmemory")["maxmemory"]
    assert db.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"  # it never drops the record
    db.config_set("maxmemory", 1)  # full: every write that adds memory is refused with OOM
    try:
        feed(rec, s.ops("ada", "move right"))
        assert [m.type for m in rec.sent_messages].count("recorded") == 1 and "OutOfMemoryError" in rec.failing
        assert "Redis is full" in caplog.text and "AURORA_REDIS_MAXMEMORY" in caplog.text
    finally:
        db.config_set("maxmemory", ceiling)
    rec.clock_.now += 60
    rec.tick()
    assert last(rec).type == "recorded" and last(rec).body == {"seq": 3} and db.xlen("aurora:events") == 3


def test_a_restarted_recorder_says_hello_with_the_recorded_canvases(rec, db):
    s = Studio()
    feed(rec, s.ops("ada", "color blue", "pen down", "move left 3", 'title "Blue"', "done", "move up"))
    feed(rec, s.ops("bob", "note E4 half 60"))
    sent: list = []
    again = Recorder(Store(db), lambda frame: sent.append(decode(frame, limit=1 << 28)), clock=FakeClock())
    again.hello()
    assert sent[-1].body["seq"] == s.seq
    restored = {n: CanvasModel.from_dict(c).digest() for n, c in sent[-1].body["canvases"].items()}
    assert restored == {n: c.digest() for n, c in s.canvases.items()}
