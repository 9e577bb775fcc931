"""read_study on events made here: what a damaged or odd event does to the counts (nothing but being listed),
decisions counted once each, and times taken as earliest and latest whatever their order."""

from __future__ import annotations

from proto.envelope import Message
from services.report.study import read_study
from services.report.timeline import timeline

NOTE = {"op": "note C4 quarter 90", "pitch": "C4", "midi": 60, "duration": "quarter", "beats": 1.0,
        "velocity": 90, "tempo": 120, "color": "blue", "brush": "dot", "x": 1, "y": 1}


def event(seq: int, kind: str, data: dict, *, agent: str = "ada", at: float = 1000.0, decision: str | None = None):
    return Message("event", {"seq": seq, "agent": agent, "kind": kind, "data": data}, "canvas", parent_id=decision,
                   time=at)


def joined(seq: int = 1, agent: str = "ada", at: float = 1000.0) -> list[Message]:
    return [event(seq, "joined", {"model": "m"}, agent=agent, at=at),
            event(seq + 1, "new", {"work": 1, "width": 8, "height": 4}, agent=agent, at=at)]


def test_an_event_that_lacks_what_its_kind_needs_counts_for_nothing_and_is_listed():
    events = [*joined(), event(3, "note", NOTE, decision="d1"),
              event(4, "note", {**NOTE, "color": "ultraviolet"}, decision="d1"),
              event(5, "note", {**NOTE, "midi": "high"}, decision="d1"),
              event(6, "note", NOTE, agent="bo", decision="d2"),  # bo has no canvas: the canvas never sent it
              event(7, "feel", {"op": "feel calm"}, decision="d1")]
    study = read_study(events)
    ada = study.agents["ada"]
    assert len(ada.notes) == 1 and ada.ops_applied == 1 and not ada.feelings
    assert [seq for seq, _ in study.unreadable] == [4, 5, 6, 7]
    assert "ultraviolet" in study.unreadable[0][1] and "bo" not in study.agents
    assert study.events == 7 and (study.first_seq, study.last_seq) == (1, 7)


def test_each_decision_is_counted_once_however_many_events_it_made():
    events = [*joined(), *(event(3 + i, "note", NOTE, decision=f"d{i // 3}") for i in range(9)),
              event(12, "rejected", {"text": "x", "code": "unknown_op", "reason": "no"}, decision="d3")]
    assert read_study(events).agents["ada"].decisions == 4


def test_a_clock_that_steps_back_neither_breaks_the_timeline_nor_loses_a_note():
    events = [*joined(at=1000.0), event(3, "note", NOTE, at=4600.0), event(4, "note", NOTE, at=900.0),
              event(5, "note", NOTE, at=2000.0)]
    study = read_study(events)
    assert (study.first_time, study.last_time) == (900.0, 4600.0)
    tl = timeline(study)
    assert sum(tl.notes["m"]) == 3 and tl.notes["m"][0] == 1 and tl.notes["m"][-1] == 1
