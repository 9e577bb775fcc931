"""`aurora up`: starts the studio, restarts a process that dies, stops everything on SIGINT, and resumes its\nrecord when started again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from services.canvas.replica import Replica
from tests.support.processes import ROOT, addr_args, aurora, free_addresses, free_port, stop, wait_until


def test_up_runs_the_studio_restarts_a_killed_canvas_and_stops_cleanly(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    addrs = free_addresses()
    web, redis_port = free_port(), free_port()
    up = aurora("up", "--no-agents", "--scripted", "1", "--redis-port", str(redis_port), "--gateway-port", str(web),
                *addr_args(addrs), stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(up.stdout.readline, "")), daemon=True)
    reader.start()
    replica = Replica(addrs.events, addrs.snapshots)
    try:
        wait_until(lambda: any("Ctrl-C" in line for line in lines), what="the studio's address lines")
        assert any(addrs.agents in line for line in lines)
        assert any(f"open http://127.0.0.1:{web}/" in line for line in lines)
        replica.sync(timeout=10)
        replica.wait_for(lambda r: "scripted-1" in r.canvases and r.canvases["scripted-1"].ops > 0, timeout=20)
        # The record socket took the recorder's own key; the agent proved its name with the studio's secret.
        assert (tmp_path / "keys" / "authorized" / "recorder.key").is_file()
        assert (tmp_path / "keys" / "hello.secret").stat().st_mode & 0o077 == 0
        # The web page is served, and the gateway reads the record as its read-only user.
        wait_until(lambda: _page(web).count("Enable sound") == 1, timeout=20, what="the web page served")
        wait_until(lambda: _agents(web).get("source") == "record" and any(
            a["name"] == "scripted-1" and a["ops_applied"] > 0 for a in _agents(web).get("agents", [])),
            timeout=20, what="the gateway's API answers from the record")
        status = _status(addrs, redis_port)
        assert "Aurora studio: running" in status and f"open http://127.0.0.1:{web}/" in status
        for part in ("recorder", "canvas", "gateway", "scripted-1 (non-LLM)"):
            assert re.search(rf"^  {re.escape(part)} +\d+ +\d+m \d+s +0$", status, re.M), (part, status)
        row = re.search(r"^  scripted-1 +live +([\d.]+) ", status, re.M)
        assert row and float(row.group(1)) > 0, status  # its decisions per minute, from the record
        canvas_pid = int(re.search(r"canvas started \(pid (\d+)\)", "".join(lines)).group(1))
        os.kill(canvas_pid, signal.SIGKILL)
        wait_until(lambda: "".join(lines).count("canvas started") == 2, timeout=15, what="canvas restarted")
        assert any("canvas exited with -9; restarting" in line for line in lines)
        # the scripted agent reconnects by itself to the new canvas and paints again
        replica.close()
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync(timeout=10)
        replica.wait_for(lambda r: "scripted-1" in r.canvases and r.status.get("scripted-1") == "live", timeout=20)
        seen = replica.seq
        up.send_signal(signal.SIGINT)
        assert up.wait(20) == 0
        wait_until(lambda: any("studio stopped" in line for line in lines), what="stop message")
        assert (tmp_path / "redis" / "appendonlydir").is_dir()  # the embedded Redis kept its data there
        stopped = _status(addrs, redis_port)
        assert "Aurora studio: not running" in stopped and re.search(r"^  scripted-1 +\? ", stopped, re.M)
    finally:
        replica.close()
        stop(up)
    # The whole studio again, on the same data: it resumes from its record, the canvas as it was left.
    again = aurora("up", "--no-agents", "--redis-port", str(free_port()), *addr_args(addrs), stdout=subprocess.DEVNULL)
    replica = Replica(addrs.events, addrs.snapshots)
    try:
        replica.sync(timeout=30)
        assert replica.seq >= seen and replica.canvases["scripted-1"].ops > 0
        assert replica.status["scripted-1"] == "away"
    finally:
        replica.close()
        again.send_signal(signal.SIGINT)
        assert again.wait(20) == 0
        stop(again)


def _agents(port: int) -> dict:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/agents", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}


def _page(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    except httpx.HTTPError:
        return ""


def _status(addrs, redis_port: int, *more: str) -> str:
    done = subprocess.run([sys.executable, "-m", "services.cli", "status", *addr_args(addrs), "--redis-port",
                           str(redis_port), *more], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_up_with_curve_runs_every_part_over_curvezmq_with_the_studios_own_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    addrs, web, redis_port = free_addresses(), free_port(), free_port()
    up = aurora("up", "--no-agents", "--scripted", "1", "--curve", "--redis-port", str(redis_port),
                "--gateway-port", str(web), *addr_args(addrs), stdout=subprocess.DEVNULL)
    try:
        # The recorder, the canvas, the scripted agent and the gateway all talk CurveZMQ: paint reaches the page.
        wait_until(lambda: any(a["name"] == "scripted-1" and a["ops_applied"] > 0
                               for a in _agents(web).get("agents", [])), timeout=60, what="paint over CurveZMQ")
        assert (tmp_path / "keys" / "authorized" / "studio.key").is_file()
        plain = Replica(addrs.events, addrs.snapshots)  # a plaintext viewer gets nothing
        with pytest.raises(TimeoutError):
            plain.sync(timeout=1.0)
        plain.close()
        keys = ["--curve-server-key", str(tmp_path / "keys" / "canvas.key"),
                "--curve-key", str(tmp_path / "keys" / "clients" / "studio.key_secret")]
        assert re.search(r"^  scripted-1 +live ", _status(addrs, redis_port, *keys), re.M)  # aurora status with keys
        # Given none on the studio's host, it takes the studio's own, named in data/studio.json by aurora up.
        assert re.search(r"^  scripted-1 +live ", _status(addrs, redis_port), re.M)
        monkeypatch.setenv("AURORA_DATA", str(tmp_path / "another"))  # no running studio there: no keys at all
        assert "note: the canvas does not answer" in _status(addrs, redis_port)
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0
        stop(up)


def test_up_in_salon_mode_runs_a_salon_its_agents_see_each_other_and_status_says_so(tmp_path, monkeypatch):
    from services.canvas.client import CanvasClient

    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    addrs, web, redis_port = free_addresses(), free_port(), free_port()
    up = aurora("up", "--no-agents", "--mode", "salon", "--redis-port", str(redis_port), "--gateway-port", str(web),
                *addr_args(addrs), stdout=subprocess.DEVNULL)
    ada, bob = CanvasClient("ada", addrs.agents), CanvasClient("bob", addrs.agents)  # speaking as agents: no model
    try:
        assert ada.connect_with_backoff()["mode"] == "salon"
        assert ada.decide('pen down\nmove right 2\ntitle "Seen"\ndone\npost')["applied"][-1] == "post"
        assert [(i["kind"], i["title"]) for i in bob.connect_with_backoff()["salon"]] == [("post", "Seen")]
        assert bob.decide('reply 1 "seen"')["applied"] == ['reply 1 "seen"']
        assert "mode: salon, 1 post in the salon" in _status(addrs, redis_port)
        wait_until(lambda: _salon_replies(web) == ["seen"], timeout=30, what="the gateway's salon")
    finally:
        ada.close()
        bob.close()
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0
        stop(up)


def _salon_replies(port: int) -> list[str]:
    """The replies to the newest post of the gateway's salon, or [] while it has none."""
    try:
        posts = httpx.get(f"http://127.0.0.1:{port}/api/salon", timeout=5).json()["posts"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []
    return [r["text"] for r in posts[0]["replies"]] if posts else []
