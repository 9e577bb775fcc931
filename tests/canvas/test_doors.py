"""Who may join which socket (PROTOCOL.md section 13), over real processes on one host, as `aurora up` runs them:
the agents socket plaintext on loopback, the record socket CurveZMQ for the recorder's key alone. A rogue record
hello, another key on the record socket, and a local process taking a free agent's name are each refused, logged
and counted, and the studio goes on: its recorder stays attached and its agent's decisions are stored first."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
import zmq

from proto.envelope import Message, encode
from services.base.curve import ClientCurve
from services.base.keys import STUDIO
from services.canvas.client import CanvasClient
from tests.support.curve import recorded_canvas
from tests.support.processes import addr_args, aurora, wait_until


@pytest.fixture
def studio(tmp_path, monkeypatch, record_url, record_db):
    """A durable plaintext canvas and its recorder, sharing a data folder with this test (the hello proofs)."""
    data = tmp_path / "data"
    monkeypatch.setenv("AURORA_DATA", str(data))
    with recorded_canvas(data, record_url) as running:
        yield running


def _stored_after_reply(client: CanvasClient, db: redis.Redis, text: str) -> None:
    """The studio goes on: the decision is applied, and stored before its reply came."""
    reply = client.decide(text)
    assert reply["applied"] and int(db.hget("aurora:recorder", "seq")) >= reply["seq"]


def _record_hello(ctx, studio, seq: int, curve: ClientCurve | None = None) -> zmq.Socket:
    rogue = ctx.socket(zmq.DEALER)
    rogue.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        curve.apply(rogue)
    rogue.connect(studio.addrs.record)
    # With the canvas's seq, a hello the canvas believed would commit every event applied so far.
    rogue.send(encode(Message("record_hello", {"seq": seq, "canvases": None}, "recorder")))
    return rogue


def _ada(ctx, studio) -> CanvasClient:
    ada = CanvasClient("ada", studio.addrs.agents, context=ctx)
    ada.connect_with_backoff(deadline=time.monotonic() + 30)
    return ada


def test_a_plaintext_record_hello_gets_nothing_and_the_recorder_keeps_recording(studio, ctx, record_db):
    ada = _ada(ctx, studio)
    seq = ada.decide("pen down")["seq"]
    rogue = _record_hello(ctx, studio, seq + 50)
    assert not rogue.poll(1500)
    wait_until(lambda: studio.logged("a peer failed the CurveZMQ handshake", socket="record"), timeout=10)
    for _ in range(3):
        _stored_after_reply(ada, record_db, "move right 2")
    rogue.close(0)
    ada.close()
    assert studio.stopped_counters()["curve_handshakes_failed"] >= 1


def test_a_key_authorized_for_an_agent_or_the_studio_is_refused_on_the_record_socket(studio, ctx, record_db):
    ada = _ada(ctx, studio)
    seq = ada.decide("pen down")["seq"]
    rogues, keys = [], {}
    for name in ("ada", STUDIO):  # an agent's own key, and the one `aurora up` gives every other child
        keys[name] = studio.client(name)
        rogues.append(_record_hello(ctx, studio, seq, keys[name]))
        wait_until(lambda: studio.logged("refused a key on a socket it may not join", socket="record", name=name),
                   timeout=10, what=f"the refusal of {name}'s key logged")
    assert not any(r.poll(500) for r in rogues)
    refusal = studio.logged("refused a key on a socket it may not join", name="ada")[0]
    assert refusal["level"] == "warning" and refusal["fingerprint"] == keys["ada"].fingerprint
    _stored_after_reply(ada, record_db, "move down 3")
    for rogue in rogues:
        rogue.close(0)
    ada.close()
    assert studio.stopped_counters()["keys_refused"] >= 2


def test_a_local_process_cannot_take_a_free_agent_s_name(studio, ctx, record_db, tmp_path):
    ada = _ada(ctx, studio)
    _stored_after_reply(ada, record_db, "pen down")
    ada.close()  # bye: the name `ada` is free
    # A process that cannot read the studio's data folder (here: another's) has no proof for the name.
    thief = aurora("scripted-agent", "ada", "--decisions", "1", *addr_args(studio.addrs),
                   env_extra={"AURORA_DATA": str(tmp_path / "elsewhere")}, stderr=subprocess.PIPE, text=True)
    _, err = thief.communicate(timeout=60)
    assert thief.returncode == 2 and "unauthorized" in err
    guess = CanvasClient("ada", studio.addrs.agents, context=ctx, proof="0" * 64)
    with pytest.raises(Exception, match="unauthorized"):
        guess.connect_with_backoff(deadline=time.monotonic() + 20)
    guess.close(bye=False)
    refusals = studio.logged("refused a hello that does not prove its name", agent="ada")
    assert len(refusals) >= 2 and refusals[0]["level"] == "warning"
    ada = _ada(ctx, studio)  # the agent itself comes back to its canvas
    assert ada.welcome["state"]["pen"] == "down"
    _stored_after_reply(ada, record_db, "move up 2")
    ada.close()
    assert studio.stopped_counters()["hellos_unproven"] >= 2
