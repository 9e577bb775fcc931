"""`aurora health`: exit 0 when the part serves, 1 with one line saying why when it does not. (Each check against
a whole studio that serves: tests/test_compose.py, whose healthchecks these are.)"""

from __future__ import annotations

import pytest

from services.cli import main
from tests.support.processes import addr_args, aurora, canvas_process, free_addresses, free_port, stop, wait_until


def test_canvas_and_agent_through_a_snapshot(capsys):
    with canvas_process() as (_, addrs):  # volatile: it answers at once, no recorder needed
        assert main(["health", "canvas", *addr_args(addrs)]) == 0
        assert "canvas: serving at seq" in capsys.readouterr().out
        assert main(["health", "agent", "ghost", *addr_args(addrs)]) == 1
        assert "ghost is unknown to the canvas, not live" in capsys.readouterr().out
        painter = aurora("scripted-agent", "ada", "--pace", "0.2", *addr_args(addrs))
        try:
            wait_until(lambda: main(["health", "agent", "ada", *addr_args(addrs)]) == 0, timeout=15, what="ada live")
        finally:
            stop(painter)


def test_a_durable_canvas_is_not_healthy_before_a_recorder_says_hello(capsys):
    with canvas_process(durable=True) as (_, addrs):
        assert main(["health", "canvas", "--timeout", "0.5", *addr_args(addrs)]) == 1
        assert "only once a recorder has said hello" in capsys.readouterr().out


def test_recorder_asks_its_redis(redis_server, capsys):
    assert main(["health", "recorder", "--redis-url", redis_server.url]) == 0
    assert "Redis answers and takes writes" in capsys.readouterr().out
    wrong = redis_server.url.replace(redis_server.password, "wrong")
    assert main(["health", "recorder", "--redis-url", wrong]) == 1
    assert "Redis does not answer" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["health", "canvas", "--timeout", "0.2"], ["health", "gateway"]])
def test_nothing_there(argv, monkeypatch, capsys):
    addrs = free_addresses()
    monkeypatch.setenv("AURORA_SNAPSHOTS_ADDR", addrs.snapshots)
    monkeypatch.setenv("AURORA_GATEWAY_PORT", str(free_port()))
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "does not answer" in out or "no snapshot" in out
