"""The chaos checks' arithmetic: acknowledged decisions read as the agents write them, and which are lost."""

from __future__ import annotations

import json

from services.chaos import checks


def test_acks_are_read_as_they_grow_and_a_line_being_written_waits(tmp_path):
    acks = checks.Acks(tmp_path)
    (tmp_path / "ada.jsonl").write_text(json.dumps({"id": "a1", "seq": 3, "events": True}) + "\n" + '{"id": "a2"')
    assert acks.read() == {"ada": 1}
    with (tmp_path / "ada.jsonl").open("a") as f:
        f.write(', "seq": 5, "events": false}\n')
    (tmp_path / "bob.jsonl").write_text(json.dumps({"id": "b1", "seq": 4, "events": True}) + "\n")
    assert acks.read() == {"ada": 2, "bob": 1}
    assert sorted((a["agent"], a["id"]) for a in acks.entries) == [("ada", "a1"), ("ada", "a2"), ("bob", "b1")]


def test_a_decision_is_lost_past_the_record_or_when_none_of_its_events_is_there():
    record = checks.Scan(last=10, parents={"a1"})
    acks = [{"id": "a1", "seq": 9, "events": True},   # recorded
            {"id": "a2", "seq": 10, "events": False},  # made no event (a `remember`), within the record
            {"id": "a3", "seq": 10, "events": True},   # its events are not there
            {"id": "a4", "seq": 11, "events": False}]  # past the end of the record
    assert [a["id"] for a in checks.lost(acks, record)] == ["a3", "a4"]


def test_a_line_torn_by_a_kill_is_counted_and_the_next_ones_still_read(tmp_path):
    acks = checks.Acks(tmp_path)
    (tmp_path / "ada.jsonl").write_text('{"id": "a1", "se' + json.dumps({"id": "a2", "seq": 4, "events": True}) + "\n"
                                        + json.dumps({"id": "a3", "seq": 5, "events": True}) + "\n")
    assert acks.read() == {"ada": 1} and acks.torn == 1
