"""`aurora replay` and `aurora export` end to end, on the record of conftest.py (and one on the embedded server)."""

from __future__ import annotations

import json

import pytest
import redis

from proto.envelope import decode
from services import cli
from services.base.redis_server import EmbeddedRedis
from services.recorder.png import canvas_png
from tests.support.record_writer import replace_entry, write_record
from tests.recorder.pngread import read_png
from tests.support.processes import free_port


@pytest.fixture
def url(record_url, r, monkeypatch):
    monkeypatch.setenv("REDIS_URL", record_url)
    return record_url


def test_replay_prints_the_canvas_at_a_seq_with_a_header(record, url, capsys):
    done = record.works[1]["done_seq"]  # ada finishes "Tide"; two events before, it is titled and painted
    at = done - 2
    assert cli.main(["replay", "--agent", "ada", "--at", str(at)]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = record.canvas_of_ops("ada", at)
    assert expected.title == "Tide" and expected.digest() == record.digests[at]["ada"]
    assert out[0] == f'ada, work 1, at seq {at} of {record.seq}: "Tide"'
    assert out[1:] == expected.view(cursor=False).splitlines()
    assert any(set(row) != {"."} for row in expected.rows())  # something painted, so the rows say something


def test_replay_defaults_to_the_last_seq_and_says_untitled(record, url, capsys):
    assert cli.main(["replay", "--agent", "bo"]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = record.canvas_of_ops("bo", record.seq)
    assert out[0] == f"bo, work 2, at seq {record.seq} of {record.seq}: (untitled)"
    assert out[1:] == expected.view(cursor=False).splitlines()


def test_replay_writes_a_png(record, url, tmp_path, capsys):
    path = tmp_path / "ada.png"
    assert cli.main(["replay", "--agent", "ada", "--at", "20", "--png", str(path)]) == 0
    expected = record.canvas_of_ops("ada", 20)
    assert path.read_bytes() == canvas_png(expected.rows())
    width, height, _ = read_png(path.read_bytes())
    assert (width, height) == (12 * 8, 8 * 8)
    assert f"written to {path}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--agent", "zed"], "no agent 'zed' in the record; its agents: ada, bo"),
    (["--agent", "ada", "--at", "10000"], "seq 10000 is beyond the record, whose last seq is {last}"),
    (["--agent", "bo", "--at", "3"], "bo had no canvas yet at seq 3"),
])
def test_replay_errors_say_what_is_known(record, url, capsys, argv, says):
    assert cli.main(["replay", *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and says.format(last=record.seq) in captured.err


def test_replay_refuses_a_seq_below_one(record, url, capsys):
    with pytest.raises(SystemExit):
        cli.main(["replay", "--agent", "ada", "--at", "0"])
    assert "not a positive number" in capsys.readouterr().err


def test_export_writes_every_event_and_the_gallery(record, url, tmp_path, r, capsys):
    out = tmp_path / "export"
    assert cli.main(["export", str(out), "--progress-every", "20"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, record.seq + 1))
    for line, (_, fields) in zip(lines, r.xrange("aurora:events")):
        msg = decode(fields[b"event"], accept=frozenset({"event"}))
        assert line == {"seq": msg.body["seq"], "id": msg.id, "parent_id": msg.parent_id, "time": msg.time,
                        "agent": msg.body["agent"], "kind": msg.body["kind"], "data": msg.body["data"]}
    assert lines[0]["kind"] == "joined" and lines[1]["data"] == {"work": 1, "width": 12, "height": 8}

    index = json.loads((out / "gallery" / "index.json").read_text())
    assert [(w["agent"], w["work"], w["title"], w["png"]) for w in index] == [
        ("bo", 1, None, "bo-1.png"), ("ada", 1, "Tide", "ada-1.png"), ("ada", 2, "Low Sun", "ada-2.png")]
    assert sorted(p.name for p in (out / "gallery").iterdir()) == ["ada-1.png", "ada-2.png", "bo-1.png", "index.json"]
    for entry, wrote in zip(index, record.works):
        assert entry["cells"] == wrote["cells"] and entry["done_seq"] == wrote["done_seq"]
        assert entry["finished"] == wrote["finished"]
        assert (out / "gallery" / entry["png"]).read_bytes() == canvas_png(wrote["cells"])
    assert index[1]["statement"] == "The tide comes in red and blue." and index[0]["statement"] is None

    progress = [line for line in captured.err.splitlines() if "events, at seq" in line]
    assert len(progress) == record.seq // 20 and progress[0] == f"aurora export: 20 events, at seq 20 of {record.seq}"
    assert captured.out.splitlines() == [
        f"aurora export: {record.seq} events and 3 finished works written to {out}"]


def test_export_skips_corrupt_entries_says_which_and_still_succeeds(record, url, tmp_path, r, capsys):
    replace_entry(r, "aurora:events", "9-0", {"agent": "ada", "kind": "stroke", "event": b"garbage"})
    r.delete("aurora:work:bo:1")
    out = tmp_path / "export"
    assert cli.main(["export", str(out)]) == 0
    captured = capsys.readouterr()
    seqs = [json.loads(line)["seq"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert 9 not in seqs and len(seqs) == record.seq - 1
    bo_done = record.works[0]["done_seq"]
    assert "skipped corrupt entry aurora:events 9-0" in captured.err
    assert f"skipped corrupt entry aurora:works {bo_done}-0: aurora:work:bo:1" in captured.err
    assert captured.out.strip().endswith("; 2 corrupt entries skipped (listed above)")
    assert [w["png"] for w in json.loads((out / "gallery" / "index.json").read_text())] == ["ada-1.png", "ada-2.png"]


def test_an_empty_redis_is_no_record(url, capsys):
    assert cli.main(["export", "/nonexistent/never-written"]) == 1
    err = capsys.readouterr().err
    assert "no record" in err and "make up" in err


def test_no_studio_data_is_no_record_and_nothing_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("AURORA_DATA", str(tmp_path / "data"))
    assert cli.main(["replay", "--agent", "ada", "--redis-port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "no record" in err and "make up" in err and str(tmp_path / "data" / "redis") in err
    assert not (tmp_path / "data").exists()


def test_with_the_studio_down_its_redis_is_started_for_the_command_and_stopped(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data" / "redis"
    server = EmbeddedRedis(folder, free_port()).start()
    try:
        record = write_record(redis.Redis.from_url(server.url))
    finally:
        server.stop()
    port = free_port()
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("AURORA_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AURORA_REDIS_PORT", str(port))
    assert cli.main(["replay", "--agent", "bo", "--at", "40"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"bo, work 2, at seq 40 of {record.seq}: (untitled)"
    assert out[1:] == record.canvas_of_ops("bo", 40).view(cursor=False).splitlines()
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", retry=None).ping()  # stopped again
