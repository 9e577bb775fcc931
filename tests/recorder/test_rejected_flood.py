"""A flood of refused lines is one `rejected` event with a count (PROTOCOL.md section 5), and every reader counts
its lines: the recorder's facts (real valkey), the gateway's live counts and the study. Events made by the
canvas's own handlers, stored by the recorder's own handlers."""

from __future__ import annotations

from proto.envelope import Message, decode, encode
from proto.messages import REJECTED_EACH_MAX
from services.audio_gateway.live import LiveStudio
from services.recorder.main import Recorder
from services.recorder.store import Store
from services.report.study import read_study
from tests.canvas.fakes import FakeClock, Harness


def test_a_flood_of_refused_lines_counts_every_line_in_the_record_the_gateway_and_the_study(record_db):
    h = Harness(durable=True)
    h.as_recorder("record_hello", {"seq": 0, "canvases": {}})
    h.hello(b"a", "ada")
    h.ops(b"a", "ada", "\n".join(["x"] * 300 + ["pen down"] + ["pen x"] * 40))
    h.studio.flush()
    batches = [m.body for _, m in h.outbox.recorded if m.type == "record"]
    recorder = Recorder(Store(record_db), lambda frame: None, clock=FakeClock())
    recorder.hello()
    for body in batches:
        recorder.on_frame(encode(Message("record", body, "canvas")))
    recorder.store_backlog()
    assert int(record_db.hget("aurora:facts:ada", "ops_rejected")) == 340
    assert int(record_db.hget("aurora:facts:ada", "ops_applied")) == 1

    events = [decode(item[4], accept=frozenset({"event"})) for body in batches for item in body["events"]]
    assert sum(e.body["kind"] == "rejected" for e in events) == REJECTED_EACH_MAX + 1
    live = LiveStudio()
    for e in events:
        live.on_event(e.body, e.time)
    assert live.facts("ada")["ops_rejected"] == 340
    study = read_study(events).agents["ada"]
    assert study.ops_rejected == 340 and study.refused == {"unknown_op": 300, "bad_argument": 40}
    assert study.decisions == 1 and not read_study(events).unreadable
