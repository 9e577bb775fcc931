"""A whole studio (`aurora up`) run past a test-sized retention window: its old events move to the archive,
Redis is trimmed behind them, and `aurora replay`, `export` and `report` read across the boundary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import redis

from proto.canvas import CanvasModel
from proto.events import apply_event
from services.canvas.replica import Replica
from services.recorder import archive, segments
from tests.support.processes import ROOT, addr_args, aurora, free_addresses, free_port, stop, wait_until

RETENTION = {"AURORA_RETENTION_WINDOW": "3", "AURORA_ARCHIVE_SPAN": "2", "AURORA_ARCHIVE_EVENTS": "40",
             "AURORA_RETENTION_EVERY": "0.5"}


def tool(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *argv], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_a_studio_past_its_window_archives_and_its_tools_read_across_the_boundary(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    env = {"AURORA_DATA": str(tmp_path), **RETENTION}
    addrs, redis_port = free_addresses(), free_port()
    up = aurora("up", "--no-agents", "--scripted", "1", "--redis-port", str(redis_port), "--gateway-port",
                str(free_port()), *addr_args(addrs), env_extra=env, stdout=subprocess.DEVNULL)
    folder = tmp_path / "archive"
    try:
        wait_until(lambda: proc_alive(up) and (tmp_path / "redis" / "admin.pass").exists(), timeout=60,
                   what="the studio's Redis")
        r = redis.Redis(port=redis_port, password=(tmp_path / "redis" / "admin.pass").read_text().strip())
        # Four segments written, and Redis trimmed behind them (a moment after each file is on disk).
        wait_until(lambda: proc_alive(up) and archived_behind(r, segments.listing(folder)[3:4]), timeout=120,
                   what="four segments archived")
        cut, where = archive.archived(r)
        assert where == folder.resolve()
        first_in_redis = int(r.xrange(archive.EVENTS, count=1)[0][0].split(b"-")[0])
        assert first_in_redis > cut  # trimmed behind the archive, never ahead of it
        notes = r.xrange("aurora:notes:scripted-1", count=1)  # trimmed with it; their count stays in the facts
        assert not notes or int(notes[0][0].split(b"-")[0]) > cut
        assert int(r.hget("aurora:facts:scripted-1", "notes") or 0) >= r.xlen("aurora:notes:scripted-1")
        r.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        stop(up)

    tools_env = {**env, "AURORA_REDIS_PORT": str(free_port())}  # the tools start the stopped studio's Redis
    exported = tool("export", str(tmp_path / "export"), env=tools_env)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in (tmp_path / "export" / "events.jsonl").read_text().splitlines()]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > cut  # each seq once, across the boundary

    # The canvas at a seq in the archive, and at the last one (from Redis), as replay says and as the exported
    # events build it.
    for at in (segments.listing(folder)[1].last - 3, len(seqs)):
        replayed = tool("replay", "--agent", "scripted-1", "--at", str(at), env=tools_env)
        assert replayed.returncode == 0, replayed.stderr
        canvases: dict[str, CanvasModel] = {}
        for e in events[:at]:
            apply_event(canvases, e)
        assert replayed.stdout.splitlines()[1:] == canvases["scripted-1"].view(cursor=False).splitlines()

    # The studio started again on this data resumes each canvas from the record: the recorder rebuilds it from
    # the anchors and the events Redis kept, as the exported events build it.
    again = aurora("up", "--no-agents", "--redis-port", str(free_port()), "--gateway-port", str(free_port()),
                   *addr_args(addrs), env_extra=env, stdout=subprocess.DEVNULL)
    replica = Replica(addrs.events, addrs.snapshots)
    try:
        replica.sync(timeout=60)
        assert replica.canvases["scripted-1"].rows() == canvases["scripted-1"].rows()
    finally:
        replica.close()
        again.send_signal(signal.SIGINT)
        assert again.wait(60) == 0
        stop(again)

    reported = tool("report", "--out", str(tmp_path / "report"), "--permutations", "20", env=tools_env)
    assert reported.returncode == 0, reported.stderr
    figures = json.loads((tmp_path / "report" / "report.json").read_text())
    assert figures["record"]["first_seq"] == 1 and figures["record"]["last_seq"] == len(seqs)
    assert figures["record"]["events"] == len(seqs) and figures["record"]["undecodable"] == 0


def archived_behind(r: redis.Redis, found: list) -> bool:
    """Redis is trimmed behind the segment in `found` (none: not yet written)."""
    try:
        return bool(found) and archive.archived(r)[0] >= found[0].last
    except redis.ConnectionError:  # the studio's Redis is still starting
        return False


def proc_alive(proc) -> bool:
    assert proc.poll() is None, f"aurora up exited with {proc.returncode}"
    return True
