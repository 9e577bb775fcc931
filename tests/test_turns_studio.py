"""`aurora up` with more agents than fit: six real SmolLM2 agents on a memory budget that fits two (the
`--memory` setting) take turns; each rests and wakes with its bank and canvas, and the record shows it all."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import defaultdict

import redis

from proto.events import OP_KINDS
from services.base.redis_server import record_redis
from services.recorder import archive
from tests.support.processes import addr_args, aurora, free_addresses, free_port, stop, wait_until

NAMES = [f"a{i}" for i in range(1, 7)]
TURN_MINUTES = 0.4  # 24 s turns: each agent loads its model (up to ~10 s on a loaded machine), then paints

ROSTER = """
[defaults]
threads = 1
context = 1024
[defaults.budget]
decisions_per_minute = 150
[turns]
minutes = %s
""" % TURN_MINUTES + "".join(f'[[agent]]\nname = "{n}"\nmodel = "smollm2-135m"\nseed = {i}\n'
                             for i, n in enumerate(NAMES, 1))


def _events(data, port) -> list:
    with record_redis(data / "redis", port) as url, redis.Redis.from_url(url) as r:
        return list(archive.iter_events(r)) if r.exists(archive.EVENTS) else []


def test_six_agents_on_room_for_two_take_turns_fairly_and_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    roster = tmp_path / "six.toml"
    roster.write_text(ROSTER)
    plan = aurora("up", "--plan", "--roster", str(roster), "--memory", "700M", "--cores", "16",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = plan.communicate(timeout=120)
    assert plan.returncode == 0, err
    assert "take turns of 0.4 minutes" in out and "turn 1          now   a1, a2" in out, out
    addrs, port = free_addresses(), free_port()
    up = aurora("up", "--roster", str(roster), "--memory", "700M", "--cores", "16", "--redis-port", str(port),
                "--gateway-port", str(free_port()), *addr_args(addrs), stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(up.stdout.readline, "")), daemon=True).start()

    def started(name: str) -> int:
        return sum(f"agent {name} started" in line for line in lines)

    def rested(name: str) -> int:
        return sum(f"agent {name} rests until" in line for line in lines)

    try:
        wait_until(lambda: any("4 of 6 agents wait their turn" in line for line in lines), timeout=120,
                   what="the studio up, four agents waiting")
        # A round is three turns: a1 and a2 wake a second time in the fourth, and rest again after it.
        wait_until(lambda: rested("a1") >= 2 and rested("a2") >= 2, timeout=300, what="a1, a2 resting twice")
        for name in NAMES:
            assert started(name) >= 1, (name, lines)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        finally:
            stop(up)
    events = _events(tmp_path, port)
    by_agent = defaultdict(list)
    for e in events:
        by_agent[e.body["agent"]].append(e)
    for name in NAMES:
        kinds = [e.body["kind"] for e in by_agent[name]]
        assert kinds.count("joined") >= 1 and set(kinds) & (OP_KINDS | {"rejected"}), (name, kinds)
        waits = [e for e in by_agent[name] if e.body["kind"] == "status" and e.body["data"]["activity"] == "waiting"]
        assert waits, f"{name}'s rest is not in the record"
        for w in waits:  # each rest says until when, later than when it was said, and why
            assert w.body["data"]["reason"] == "turns" and w.body["data"]["until"] > w.time
    for name in ("a1", "a2"):  # two turns each: the second continues the first, nothing lost
        joins = [i for i, e in enumerate(by_agent[name]) if e.body["kind"] == "joined"]
        assert len(joins) >= 2, name
        # the decisions its bank counted, said at each rest: the second turn went on from the first
        usage = [e.body["data"]["usage"]["decisions"] for e in by_agent[name]
                 if e.body["kind"] == "status" and e.body["data"]["activity"] == "waiting"]
        assert len(usage) >= 2 and usage == sorted(usage) and usage[-1] > usage[0], (name, usage)
        works = [e.body["data"]["work"] for e in by_agent[name] if e.body["kind"] == "new"]
        assert works == sorted(works), (name, works)  # its canvas went on where it was, never back to work 1
    # Never more agents live at once than the plan allows: the record's joins and leaves, in order.
    live, most = set(), 0
    for e in events:
        if e.body["kind"] == "joined":
            live.add(e.body["agent"])
        elif e.body["kind"] == "left":
            live.discard(e.body["agent"])
        most = max(most, len(live))
    assert most == 2, most
    # Fair: no agent's first wake came before every agent of the turn before it had rested.
    order = [e.body["agent"] for e in events if e.body["kind"] == "joined"]
    assert order.index("a3") > order.index("a1") and order.index("a5") > order.index("a3"), order
