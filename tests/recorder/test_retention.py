"""The retention policy against a real valkey: old events move to archive segments, Redis is trimmed behind
them, and every reader takes the archive and Redis as one record (each seq once, no gap)."""

from __future__ import annotations

import json

import pytest
import redis

from services import cli
from services.recorder import archive, segments
from services.recorder.retention import Policy, Retention
from tests.support.record_writer import ClockedWriter, write_record

T0 = 1_800_000_000.0  # a multiple of the span: spans start at T0, T0 + 10, ...


@pytest.fixture
def timed(r):
    return write_record(r, ClockedWriter(r, T0))


def retention(r, folder, *, cutoff: float, span: float = 10.0, events: int = 7, reports=None) -> Retention:
    """A policy whose window ends at `cutoff`: the events before it are old."""
    window = 1000.0
    return Retention(r, folder, Policy(window=window, span=span, events=events),
                     clock=lambda: cutoff + window, on_corrupt=reports if reports is not None else archive.log_corrupt)


def every_seq(r, reports):
    return [m.body["seq"] for m in archive.iter_events(r, on_corrupt=reports)]


def test_old_events_move_to_segments_and_readers_see_one_record_across_the_boundary(r, timed, tmp_path, reports):
    assert timed.seq > 45
    moved = retention(r, tmp_path / "archive", cutoff=T0 + 40, reports=reports).run()
    # Spans of 10 s, 7 events a segment at most: events 1..39 (before T0 + 40) are archived, in closed segments.
    assert moved == 39 and archive.archived(r) == (39, (tmp_path / "archive").resolve())
    found = segments.listing(tmp_path / "archive")
    assert [(f.first, f.last) for f in found] == [(1, 7), (8, 9), (10, 16), (17, 19), (20, 26), (27, 29),
                                                  (30, 36), (37, 39)]
    assert all(f.path.stat().st_mode & 0o077 == 0 for f in found)
    # Redis holds only what is after the archived seq: events and snapshots.
    assert int(r.xrange("aurora:events", count=1)[0][0].split(b"-")[0]) == 40
    for agent in ("ada", "bo"):
        assert all(int(i.split(b"-")[0]) > 39 for i, _ in r.xrange(archive.snapshots_key(agent)))
    # One record: every event once, in order; every canvas at every seq as it was.
    assert every_seq(r, reports) == list(range(1, timed.seq + 1))
    for seq in range(1, timed.seq + 1):
        for agent in ("ada", "bo"):
            canvas = archive.canvas_at(r, agent, seq, on_corrupt=reports)
            assert (canvas.digest() if canvas else None) == timed.digests[seq].get(agent), (agent, seq)
    assert reports == []
    # The gallery and the derived data stay in Redis.
    assert [w["title"] for w in archive.works(r)] == [None, "Tide", "Low Sun"]


def test_a_span_still_in_the_window_is_not_archived_until_it_is_closed(r, timed, tmp_path, reports):
    # T0 + 35 cuts the span T0+30..40 in two: its events 30..34 wait for the rest of it.
    assert retention(r, tmp_path, cutoff=T0 + 35, reports=reports).run() == 29
    assert archive.archived(r)[0] == 29
    assert retention(r, tmp_path, cutoff=T0 + 35, reports=reports).run() == 0  # nothing more yet
    # With the studio idle, a span wholly out of the window is closed by time alone.
    assert retention(r, tmp_path, cutoff=T0 + 10_000, span=10_000.0, events=1000, reports=reports).run() \
        == timed.seq - 29
    assert r.xlen("aurora:events") == 0 and every_seq(r, reports) == list(range(1, timed.seq + 1))
    ada = archive.canvas_at(r, "ada", timed.seq, on_corrupt=reports)  # from its anchor, all else archived
    assert ada.digest() == timed.digests[timed.seq]["ada"] and reports == []


def test_the_tools_read_a_record_whose_events_are_all_archived(r, timed, tmp_path, record_url, monkeypatch,
                                                                capsys):
    retention(r, tmp_path / "archive", cutoff=T0 + 10_000, span=10_000.0, events=1000).run()
    r.delete("aurora:events")  # as good as empty: a record whose Redis holds none of its events
    monkeypatch.setenv("REDIS_URL", record_url)
    assert cli.main(["export", str(tmp_path / "out")]) == 0
    lines = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, timed.seq + 1))
    capsys.readouterr()
    assert cli.main(["replay", "--agent", "bo", "--at", "30"]) == 0
    assert capsys.readouterr().out.startswith("bo, work ")


def test_a_crash_between_the_segment_and_the_trim_leaves_duplicates_that_are_read_once(r, timed, tmp_path, reports):
    policy = retention(r, tmp_path, cutoff=T0 + 20, reports=reports)
    segment = policy._next_segment()
    segments.write(tmp_path, segment)  # ... and the recorder dies before it trims Redis
    assert archive.archived(r)[0] == 0 and r.xlen("aurora:events") == timed.seq
    assert every_seq(r, reports) == list(range(1, timed.seq + 1))
    # The next pass trims behind the segment it finds, without writing it again.
    assert policy.run() == 19 and archive.archived(r)[0] == 19
    assert [(f.first, f.last) for f in segments.listing(tmp_path)] == [(1, 7), (8, 9), (10, 16), (17, 19)]
    assert every_seq(r, reports) == list(range(1, timed.seq + 1)) and reports == []


def test_a_corrupt_segment_that_redis_is_not_trimmed_behind_is_set_aside_and_written_again(r, timed, tmp_path,
                                                                                             reports):
    policy = retention(r, tmp_path, cutoff=T0 + 20, reports=reports)
    path = segments.write(tmp_path, policy._next_segment())
    path.write_bytes(path.read_bytes()[:-10])  # ... and its end is lost before the trim
    assert policy.run() == 19 and archive.archived(r)[0] == 19
    assert (tmp_path / (path.name + ".corrupt")).exists() and segments.read(path).last == 7
    assert every_seq(r, reports) == list(range(1, timed.seq + 1)) and reports == []


def test_a_corrupt_or_missing_segment_is_reported_and_the_rest_is_read(r, timed, tmp_path, reports):
    retention(r, tmp_path, cutoff=T0 + 20, reports=reports).run()
    first, second = segments.listing(tmp_path)[:2]
    data = bytearray(first.path.read_bytes())
    data[-5] ^= 0xFF
    first.path.write_bytes(bytes(data))
    second.path.unlink()
    assert every_seq(r, reports) == list(range(10, timed.seq + 1))
    assert [(key, entry) for key, entry, _ in reports] == [(str(first.path), "segment"), (str(tmp_path), "8-9")]
    assert "checksum" in reports[0][2] and "no archive segment" in reports[1][2]
    with pytest.raises(segments.SegmentCorrupt, match="checksum"):
        segments.read(first.path)
    reports.clear()
    assert archive.canvas_at(r, "ada", 5, on_corrupt=reports) is None and reports


def test_a_full_redis_is_still_archived_and_trimmed(r, timed, tmp_path, reports):
    ceiling = r.config_get("maxmemory")["maxmemory"]
    r.config_set("maxmemory", 1)  # full: it refuses every write that adds memory (noeviction)
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            r.hset("aurora:recorder", "full", "1")
        assert retention(r, tmp_path, cutoff=T0 + 40, reports=reports).run() == 39  # trimming frees memory
    finally:
        r.config_set("maxmemory", ceiling)
    assert archive.archived(r)[0] == 39 and every_seq(r, reports) == list(range(1, timed.seq + 1))


def test_a_segment_round_trips_and_refuses_what_is_not_one(tmp_path):
    seg = segments.Segment(5, 6, {"ada": {"w": 1}}, [[5, "ada", "note", b"\x01\x02"], [6, "bo", "new", b"\x03"]],
                           [[6, "bo", "{}", "00"]])
    path = segments.write(tmp_path, seg)
    assert path.name == "events-000000000005-000000000006.seg"
    assert segments.read(path) == seg
    (tmp_path / "junk.seg").write_bytes(b"hello")
    assert [f.path for f in segments.listing(tmp_path)] == [path]
    with pytest.raises(segments.SegmentCorrupt, match="not an Aurora archive segment"):
        segments.read(tmp_path / "junk.seg")
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(segments.SegmentCorrupt, match="checksum"):
        segments.read(path)
