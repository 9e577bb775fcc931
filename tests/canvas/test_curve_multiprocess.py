"""CurveZMQ over real processes and sockets, on loopback (the canvas told to take only CurveZMQ with --curve):
an authorized agent paints, an unknown key is refused and the refusal is logged and counted, plaintext gets
nothing, and a canvas will not bind plaintext off loopback. tests/test_netns.py does it between two hosts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import zmq

from proto.envelope import Message, encode
from proto.errors import RemoteError
from services.base.curve import ClientCurve, KeyRefused, fingerprint
from services.base.keys import STUDIO
from services.canvas.client import CanvasClient, CanvasGone
from services.canvas.replica import Replica
from tests.support.curve import curve_canvas
from tests.support.processes import ROOT, addr_args, aurora, free_port, stop, wait_until


@pytest.fixture
def studio(tmp_path):
    with curve_canvas(tmp_path / "data") as running:
        yield running


def test_an_authorized_agent_paints_and_an_authorized_viewer_sees_it(studio, ctx):
    ada = studio.client("ada")
    agent = aurora("scripted-agent", "ada", "--decisions", "30", *addr_args(studio.addrs), *studio.key_args(ada),
                   env_extra=studio.env())
    try:
        assert agent.wait(60) == 0
    finally:
        stop(agent)
    replica = Replica(studio.addrs.events, studio.addrs.snapshots, context=ctx, curve=studio.client("viewer"))
    replica.sync()
    assert replica.canvases["ada"].ops >= 30
    assert studio.logged("canvas ready")[0]["curve"] == ["agents", "events", "snapshots", "record"]
    replica.close()


def test_a_key_speaks_only_for_the_agent_it_is_authorized_as_and_the_studios_own_for_any(studio, ctx):
    ada = studio.client("ada")
    impostor = CanvasClient("bob", studio.addrs.agents, context=ctx, curve=ada)
    with pytest.raises(RemoteError, match="authorized as 'ada'.*aurora keys create bob") as refused:
        impostor.connect_with_backoff(deadline=time.monotonic() + 15)
    assert refused.value.code == "identity_mismatch"
    impostor.close(bye=False)
    agent = aurora("scripted-agent", "bob", "--decisions", "3", *addr_args(studio.addrs), *studio.key_args(ada),
                   env_extra=studio.env(), stderr=subprocess.PIPE, text=True)
    _, err = agent.communicate(timeout=30)
    assert agent.returncode == 2 and "identity_mismatch" in err
    own = CanvasClient("ada", studio.addrs.agents, context=ctx, curve=ada)
    assert own.connect_with_backoff(deadline=time.monotonic() + 15)["agent"] == "ada"
    own.close()
    own_processes = studio.client(STUDIO)  # `aurora up`'s key for the studio's own processes on its host
    for name in ("bob", "cleo"):
        client = CanvasClient(name, studio.addrs.agents, context=ctx, curve=own_processes)
        assert client.connect_with_backoff(deadline=time.monotonic() + 15)["agent"] == name
        client.close()


def test_an_unknown_key_is_refused_at_once_and_the_canvas_logs_and_counts_it(studio, ctx):
    mallory = studio.stranger("mallory")
    client = CanvasClient("mallory", studio.addrs.agents, context=ctx, curve=mallory)
    started = time.monotonic()
    with pytest.raises(KeyRefused, match=f"refused this client's key {mallory.fingerprint}.*aurora keys authorize"):
        client.connect_with_backoff(deadline=time.monotonic() + 20)
    assert time.monotonic() - started < 5  # said at once, not after retrying for ever
    client.close(bye=False)
    agent = aurora("scripted-agent", "mallory", *addr_args(studio.addrs), *studio.key_args(mallory),
                   env_extra=studio.env(), stderr=subprocess.PIPE, text=True)
    _, err = agent.communicate(timeout=30)
    assert agent.returncode == 2 and "key_refused" in err
    wait_until(lambda: len(studio.logged("refused a client whose key is not authorized")) >= 1, timeout=5)
    refusal = studio.logged("refused a client whose key is not authorized")[0]
    assert refusal["level"] == "warning" and refusal["socket"] == "agents" and refusal["peer"] == "127.0.0.1"
    assert refusal["fingerprint"] == mallory.fingerprint == fingerprint(refusal["key"])
    # Throttled: the same key from the same peer is said once a minute, but every refusal is counted.
    assert studio.stopped_counters()["keys_refused"] >= 2


def test_a_viewer_with_an_unknown_key_is_told_why_and_one_with_the_wrong_canvas_key_is_given_a_hint(studio, ctx):
    stranger = Replica(studio.addrs.events, studio.addrs.snapshots, context=ctx, curve=studio.stranger("eve"))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="refused this client's key"):
        stranger.sync(timeout=10)
    assert time.monotonic() - started < 5
    stranger.close()
    viewer = studio.client("viewer")
    wrong = ClientCurve(server_key=zmq.curve_keypair()[0], public=viewer.public, secret=viewer.secret)
    confused = Replica(studio.addrs.events, studio.addrs.snapshots, context=ctx, curve=wrong)
    with pytest.raises(TimeoutError, match="handshake failed: is --curve-server-key the canvas's canvas.key"):
        confused.sync(timeout=2)
    confused.close()


def test_a_plaintext_client_gets_nothing_from_a_curve_socket_and_the_canvas_says_so(studio, ctx):
    raw = ctx.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(studio.addrs.agents)
    raw.send(encode(Message("hello", {"agent": "plain", "protocol": "1.0"}, "plain")))
    assert not raw.poll(1500)
    raw.close(0)
    plain = CanvasClient("plain", studio.addrs.agents, context=ctx)  # loopback: allowed to try, gets nothing
    with pytest.raises(CanvasGone):
        plain.connect(timeout=1.5)
    plain.close(bye=False)
    wait_until(lambda: studio.logged("a peer failed the CurveZMQ handshake", socket="agents"), timeout=5)
    assert studio.stopped_counters()["curve_handshakes_failed"] >= 1


def test_the_canvas_will_not_bind_plaintext_off_loopback_and_says_to_run_aurora_keys(tmp_path):
    canvas = aurora("canvas", "--agents", "tcp://0.0.0.0:*", "--events", "tcp://127.0.0.1:*", "--snapshots",
                    "tcp://127.0.0.1:*", "--record", "tcp://127.0.0.1:*", "--volatile",
                    env_extra={"AURORA_DATA": str(tmp_path / "empty")}, stderr=subprocess.PIPE, text=True)
    try:
        _, err = canvas.communicate(timeout=30)
    finally:
        stop(canvas)
    assert canvas.returncode == 2
    assert "agents socket binds tcp://0.0.0.0:*, which is not loopback" in err and "aurora keys server" in err


def test_a_recorder_records_over_curve_and_one_whose_key_is_unknown_stops_and_says_why(tmp_path, record_url,
                                                                                          record_db, ctx):
    with curve_canvas(tmp_path / "data", durable=True) as studio:
        intruder = aurora("recorder", *addr_args(studio.addrs), *studio.key_args(studio.stranger("rogue")),
                          "--redis-url", record_url, env_extra=studio.env(), stderr=subprocess.PIPE, text=True)
        _, err = intruder.communicate(timeout=30)
        assert intruder.returncode == 2 and "the canvas refused this recorder's key" in err
        recorder = aurora("recorder", *addr_args(studio.addrs), *studio.key_args(studio.client("recorder")),
                          "--redis-url", record_url, env_extra=studio.env())
        try:
            ada = CanvasClient("ada", studio.addrs.agents, context=ctx, curve=studio.client("ada"))
            ada.connect_with_backoff(deadline=time.monotonic() + 20)
            assert ada.decide("pen down\nmove right 3")["applied"] == ["pen down", "move right 3"]
            assert int(record_db.hget("aurora:recorder", "seq")) >= 3  # stored before the reply came
            ada.close()
        finally:
            stop(recorder)


def test_the_gateway_and_the_health_check_follow_a_curve_canvas_with_their_keys(studio):
    import httpx

    ada = aurora("scripted-agent", "ada", "--decisions", "5", *addr_args(studio.addrs),
                 *studio.key_args(studio.client("ada")), env_extra=studio.env())
    port = free_port()
    gateway = aurora("gateway", "--port", str(port), *addr_args(studio.addrs), *studio.key_args(studio.client("web")),
                     env_extra={**studio.env(), "REDIS_URL": ""})
    try:
        assert ada.wait(30) == 0
        health = lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # noqa: E731
        wait_until(lambda: _ok(health), timeout=30, what="the gateway synced over CurveZMQ")
        checked = subprocess.run([sys.executable, "-m", "services.cli", "health", "canvas", *addr_args(studio.addrs),
                                  *studio.key_args(studio.client("health"))], capture_output=True, text=True,
                                 timeout=30, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **studio.env()})
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        stop(gateway)
        stop(ada)


def _ok(request) -> bool:
    try:
        return request().status_code == 200
    except Exception:
        return False


def test_the_recorder_s_key_joins_no_socket_but_the_record_socket(studio, ctx):
    recorder = studio.client("recorder")
    client = CanvasClient("recorder", studio.addrs.agents, context=ctx, curve=recorder)
    with pytest.raises(KeyRefused):
        client.connect_with_backoff(deadline=time.monotonic() + 20)
    client.close(bye=False)
    wait_until(lambda: studio.logged("refused a key on a socket it may not join", socket="agents", name="recorder"),
               timeout=10, what="the refusal logged")
    assert studio.stopped_counters()["keys_refused"] >= 1
