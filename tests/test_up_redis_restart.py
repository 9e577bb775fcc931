"""`aurora up` heals a Redis killed with SIGKILL: the supervisor starts it again on its data, the users it
granted are still there (the ACL file), and the gateway serves from the record again, saying `degraded` (503)
only while the record does not answer."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import httpx
import redis

from tests.support.processes import addr_args, aurora, free_addresses, free_port, stop, wait_until


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return 0, {}


def ops_from_record(port: int) -> int:
    """scripted-1's ops applied, as the gateway gives them from the record; -1 while it answers otherwise."""
    status, body = get(port, "/api/agents")
    if status != 200 or body.get("source") != "record":
        return -1
    return next((a["ops_applied"] for a in body["agents"] if a["name"] == "scripted-1"), -1)


def test_a_redis_killed_under_up_comes_back_with_its_users_and_the_gateway_reads_the_record_again(tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    addrs, web, redis_port = free_addresses(), free_port(), free_port()
    up = aurora("up", "--no-agents", "--scripted", "1", "--redis-port", str(redis_port), "--gateway-port", str(web),
                *addr_args(addrs), stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(up.stdout.readline, "")), daemon=True).start()
    try:
        wait_until(lambda: ops_from_record(web) > 0, timeout=60, what="the gateway reading the record")
        assert get(web, "/healthz")[1]["status"] == "ok"
        acl = tmp_path / "redis" / "users.acl"
        assert "user record-reader " in acl.read_text() and acl.stat().st_mode & 0o077 == 0
        admin = redis.Redis(port=redis_port, password=(tmp_path / "redis" / "admin.pass").read_text().strip())
        pid = int(admin.info("server")["process_id"])
        admin.close()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: any("Redis exited with -9; restarting it" in line for line in lines), timeout=30,
                   what="the supervisor restarting Redis")
        # Reading counts that grew after the restart: the gateway's user logs in to the new server.
        before = ops_from_record(web)
        wait_until(lambda: ops_from_record(web) > max(before, 0), timeout=60,
                   what="the gateway serving from the record again")
        wait_until(lambda: get(web, "/healthz")[0] == 200, timeout=30, what="/healthz ok again")
        health = get(web, "/healthz")[1]
        assert health["status"] == "ok" and health["record"] == "ok"
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        stop(up)


def test_healthz_is_degraded_with_503_while_the_record_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    addrs, web, redis_port = free_addresses(), free_port(), free_port()
    up = aurora("up", "--no-agents", "--scripted", "1", "--redis-port", str(redis_port), "--gateway-port", str(web),
                *addr_args(addrs), stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: ops_from_record(web) > 0, timeout=60, what="the gateway reading the record")
        admin = redis.Redis(port=redis_port, password=(tmp_path / "redis" / "admin.pass").read_text().strip())
        pid = int(admin.info("server")["process_id"])
        os.kill(pid, signal.SIGSTOP)  # up, but serving nobody
        try:
            wait_until(lambda: get(web, "/healthz")[0] == 503, timeout=30, what="/healthz 503")
            assert get(web, "/healthz")[1]["status"] == "degraded"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: get(web, "/healthz")[0] == 200, timeout=30, what="/healthz ok again")
        admin.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        stop(up)
