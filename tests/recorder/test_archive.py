"""The read side of the record: events, canvases at any seq (snapshot + events), works; corrupt entries."""

from __future__ import annotations

import json

import pytest
import redis

from proto.canvas import CanvasModel
from services.recorder import archive
from tests.support.record_writer import replace_entry
from tests.recorder.pngread import read_png


def digest_at(r, agent, seq, on_corrupt):
    canvas = archive.canvas_at(r, agent, seq, on_corrupt=on_corrupt)
    return canvas.digest() if canvas is not None else None


def test_the_fixture_record_is_what_the_tests_need(record):
    assert record.snapshots["ada"][0] == 2 and len(record.snapshots["ada"]) >= 8 and len(record.snapshots["bo"]) >= 4
    assert [(w["agent"], w["work"], w["title"]) for w in record.works] == [
        ("bo", 1, None), ("ada", 1, "Tide"), ("ada", 2, "Low Sun")]
    assert {"status", "rejected", "statement", "note", "tempo", "done", "new"} <= {
        b["kind"] for b in record.bodies.values()}


def test_canvas_at_every_seq_equals_the_canvas_built_from_the_ops(r, record, reports):
    assert archive.last_seq(r) == record.seq
    for seq in range(1, record.seq + 1):
        for agent in ("ada", "bo"):
            assert digest_at(r, agent, seq, reports) == record.digests[seq].get(agent), (agent, seq)
    assert reports == []
    assert digest_at(r, "bo", record.seq, reports) == record.canvas_of_ops("bo", record.seq).digest()


def test_canvas_at_is_none_before_the_agent_has_a_canvas_and_for_a_stranger(r, record, reports):
    first_bo = min(s for s, b in record.bodies.items() if b["agent"] == "bo")
    assert archive.canvas_at(r, "bo", first_bo, on_corrupt=reports) is None  # joined; its canvas is the next event
    assert archive.canvas_at(r, "bo", first_bo + 1, on_corrupt=reports) is not None
    assert archive.canvas_at(r, "zed", record.seq, on_corrupt=reports) is None
    assert reports == []


def test_without_any_snapshot_the_canvas_comes_from_the_first_new_event(r, record, reports):
    r.delete(archive.snapshots_key("ada"))
    for seq in (2, 17, 40, record.seq):
        assert digest_at(r, "ada", seq, reports) == record.digests[seq]["ada"]
    assert reports == []


@pytest.mark.parametrize("page", [1, 7, 1000])
def test_iter_events_yields_every_event_in_order_across_pages(r, record, reports, monkeypatch, page):
    monkeypatch.setattr(archive, "PAGE", page)
    got = list(archive.iter_events(r, on_corrupt=reports))
    assert [m.body for m in got] == [record.bodies[s] for s in range(1, record.seq + 1)]
    assert {m.type for m in got} == {"event"} and reports == []
    assert [m.body["seq"] for m in archive.iter_events(r, 5, 9, on_corrupt=reports)] == [5, 6, 7, 8, 9]
    assert list(archive.iter_events(r, record.seq + 1, on_corrupt=reports)) == []


def ada_stroke_to_corrupt(record) -> int:
    """A seq of one of ada's strokes that is not also a snapshot's, so a replay to it must read it."""
    return next(s for s, b in record.bodies.items()
                if b["agent"] == "ada" and b["kind"] == "stroke" and s > 10 and s not in record.snapshots["ada"])


@pytest.mark.parametrize("fields", [
    {"agent": "ada", "kind": "stroke", "event": b"\x93not an envelope"},
    {"agent": "ada", "kind": "stroke"},  # no event field
    {"event": b"\xc1"},  # no agent field either: every agent's replay must look at it
])
def test_a_corrupt_event_is_reported_with_key_and_id_and_skipped(r, record, reports, fields):
    bad = ada_stroke_to_corrupt(record)
    replace_entry(r, archive.EVENTS, f"{bad}-0", fields)
    seqs = [m.body["seq"] for m in archive.iter_events(r, on_corrupt=reports)]
    assert seqs == [s for s in range(1, record.seq + 1) if s != bad]
    assert reports.where() == [("aurora:events", f"{bad}-0")]
    reports.clear()

    skipped = record.canvas_of_ops("ada", bad, skip=bad)
    assert skipped.digest() != record.digests[bad]["ada"], "the corrupt stroke must have painted something"
    assert digest_at(r, "ada", bad, reports) == skipped.digest()  # the canvas as it was before it
    assert reports.where() == [("aurora:events", f"{bad}-0")]
    reports.clear()
    assert digest_at(r, "bo", bad, reports) == record.digests[bad]["bo"]
    assert reports.where() == ([] if "agent" in fields else [("aurora:events", f"{bad}-0")])


def test_an_event_whose_seq_is_not_its_id_is_corrupt(r, record, reports):
    replace_entry(r, archive.EVENTS, "7-0", r.xrange(archive.EVENTS, "8", "8")[0][1])
    assert 7 not in [m.body["seq"] for m in archive.iter_events(r, on_corrupt=reports)]
    assert reports.where() == [("aurora:events", "7-0")] and "seq 8" in reports[0][2]


def test_an_event_that_cannot_be_applied_is_reported_and_leaves_the_canvas(r, record, reports):
    """It decodes, but its op is no op: the reader says which seq it could not apply."""
    from proto.topics import encode_event

    bad = ada_stroke_to_corrupt(record)
    body = record.bodies[bad]
    _, envelope = encode_event(bad, "ada", "stroke", {**body["data"], "op": "paint everything"})
    replace_entry(r, archive.EVENTS, f"{bad}-0", {"agent": "ada", "kind": "stroke", "event": envelope})
    assert digest_at(r, "ada", bad, reports) == record.canvas_of_ops("ada", bad, skip=bad).digest()
    assert reports.where() == [("aurora:events", f"{bad}-0")] and f"seq {bad}" in reports[0][2]


def damaged_canvas(fields):
    data = json.loads(fields[b"canvas"])
    data["cells"][0] = "Z" * data["width"]
    return {"canvas": json.dumps(data), "digest": fields[b"digest"]}


@pytest.mark.parametrize("damage", [
    lambda f: {"canvas": b"{not json", "digest": f[b"digest"]},
    damaged_canvas,  # a canvas that does not validate
    lambda f: {"canvas": json.dumps(CanvasModel(12, 8).to_dict()), "digest": f[b"digest"]},  # not its digest
    lambda f: {"canvas": f[b"canvas"]},  # no digest
])
def test_a_corrupt_snapshot_is_reported_and_the_one_before_it_used(r, record, reports, damage):
    key = archive.snapshots_key("ada")
    snap = record.snapshots["ada"][4]
    at = snap + 2
    assert snap < at < record.snapshots["ada"][5]
    fields = dict(r.xrange(key, str(snap), str(snap))[0][1])
    replace_entry(r, key, f"{snap}-0", damage(fields))
    assert digest_at(r, "ada", at, reports) == record.digests[at]["ada"]
    assert reports.where() == [(key, f"{snap}-0")]
    reports.clear()
    assert digest_at(r, "ada", snap - 1, reports) == record.digests[snap - 1]["ada"]  # not read: no report
    assert reports == []


def test_with_every_snapshot_corrupt_the_canvas_comes_from_the_events(r, record, reports):
    key = archive.snapshots_key("ada")
    at = record.snapshots["ada"][3] + 1
    for snap in record.snapshots["ada"]:
        replace_entry(r, key, f"{snap}-0", {"canvas": "[]", "digest": "0"})
    assert digest_at(r, "ada", at, reports) == record.digests[at]["ada"]
    assert reports.where() == [(key, f"{s}-0") for s in reversed(record.snapshots["ada"][:4])]


def test_works_are_the_gallery_in_the_order_finished(r, record, reports):
    gallery = archive.works(r, on_corrupt=reports)
    assert reports == []
    assert [(w["agent"], w["work"], w["title"], w["done_seq"]) for w in gallery] == [
        (w["agent"], w["work"], w["title"], w["done_seq"]) for w in record.works]
    untitled, tide, low_sun = gallery
    assert tide["statement"] == "The tide comes in red and blue." and tide["statement_seq"] > tide["done_seq"]
    assert untitled["title"] is None and untitled["statement"] is None and untitled["statement_seq"] is None
    assert low_sun["statement"] is None
    for got, wrote in zip(gallery, record.works):
        assert got["cells"] == wrote["cells"] and got["finished"] == wrote["finished"]
        width, height, _ = read_png(got["png"])
        assert (width, height) == (8 * len(got["cells"][0]), 8 * len(got["cells"]))


def test_a_work_whose_hash_is_missing_or_broken_is_reported_and_skipped(r, record, reports):
    r.delete("aurora:work:bo:1")
    r.hset("aurora:work:ada:2", "cells", "[not json")
    assert [w["title"] for w in archive.works(r, on_corrupt=reports)] == ["Tide"]
    done = [w["done_seq"] for w in record.works]
    assert reports.where() == [("aurora:works", f"{done[0]}-0"), ("aurora:works", f"{done[2]}-0")]
    assert "aurora:work:bo:1" in reports[0][2] and "aurora:work:ada:2" in reports[1][2]


def test_agents_and_an_empty_record(r, record):
    assert archive.agents(r) == ["ada", "bo"] and archive.layout(r) == "1"
    r.flushdb()
    assert archive.last_seq(r) == 0 and archive.agents(r) == [] and archive.works(r) == []
    assert list(archive.iter_events(r)) == [] and archive.canvas_at(r, "ada", 5) is None


def test_the_record_reader_reads_the_record_and_nothing_else(redis_server, record_url, record):
    from services.base.redis_server import url_with_credentials

    with redis.Redis.from_url(redis_server.url) as admin:
        password = archive.grant_reader(admin)
        admin.set("agent:ada:note", "mine")  # a memory bank's key, in the agents' database
    reader = redis.Redis.from_url(url_with_credentials(record_url, archive.READER, password))
    try:
        assert archive.last_seq(reader) == record.seq  # it reads the record
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.xadd("aurora:events", {"agent": "x"})  # but writes nothing
    finally:
        reader.close()
    with redis.Redis.from_url(url_with_credentials(redis_server.url, archive.READER, password)) as banks:
        with pytest.raises(redis.exceptions.NoPermissionError):
            banks.get("agent:ada:note")  # nor reads a memory bank
