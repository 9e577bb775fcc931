"""Fuzz the gateway's WebSocket (PROTOCOL.md section 12) with hostile viewers: text and binary frames of any content,
invalid JSON, objects of unknown types, commands that would paint or speak as an agent, frames past the input limit
(closed with 1009) and floods, against a real `aurora gateway` while a scripted agent paints. Every frame a viewer got
in is counted and ignored; the gateway stays up and healthy, and a good viewer gets every event in order, with no
resync, rebuilding the studio exactly; no command changed anything.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.audio_gateway.server import INPUT_LIMIT
from tests.audio_gateway.support import Listener, Rebuilt, gateway_process, scripted
from tests.audio_gateway.test_ws import fresh_snapshot
from tests.fuzz.budget import fuzz
from tests.fuzz.hostile import values
from tests.support.processes import canvas_process, stop, wait_until

pytestmark = pytest.mark.fuzz

COMMANDS = [{"type": "ops", "agent": "ghost", "text": "pen down\nmove right 5"}, {"type": "hello", "agent": "ghost"},
            {"type": "resync"}, {"type": "snapshot_request", "agent": None}, {"type": "bye", "agent": "bo"}]


def _json(value) -> str:
    return json.dumps(value, default=repr)  # NaN and infinities as JavaScript would refuse them: sent anyway


small = st.one_of(
    st.text(max_size=200), st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: "{" + t),  # not JSON
    st.builds(lambda t, rest: _json({**rest, "type": t}), st.text(max_size=20) | st.sampled_from(["event", "work"]),
              st.dictionaries(st.text(max_size=8), values, max_size=3)),
    st.sampled_from(COMMANDS).map(_json))
huge = st.builds(lambda n, binary: b"\x00" * n if binary else "x" * n,
                 st.integers(INPUT_LIMIT + 1, 4 * INPUT_LIMIT), st.booleans())
flood = st.builds(lambda frame, n: [frame] * n, small, st.integers(100, 600))


@pytest.fixture
def painting():
    """A canvas, a scripted agent painting on it, and `aurora gateway` following it."""
    with canvas_process("--heartbeat-interval", "0.2") as (_, addrs), gateway_process(addrs) as gateway:
        painter = scripted(addrs, "bo", "--seed", "5", "--done-every", "50", "--pace", "0.01")
        try:
            yield addrs, gateway, painter
        finally:
            stop(painter)


def test_hostile_viewers_are_counted_and_ignored_and_other_viewers_miss_nothing(painting):
    addrs, gateway, painter = painting
    good = Listener(gateway.ws_url, name="good")
    wait_until(lambda: len(good.of_type("event")) > 10, timeout=30, what="events flowing")
    counted = 0  # frames the gateway must have read, and counted

    @fuzz(50)
    @given(st.lists(small, max_size=8) | flood, st.none() | huge)
    def batch(frames, oversize):
        nonlocal counted
        with connect(gateway.ws_url, proxy=None, max_size=None, open_timeout=10, compression=None) as ws:
            for frame in frames:
                ws.send(frame)
            counted += len(frames)
            # Read in order: every frame before the close is taken (and counted) before the close is.
            wait_until(lambda: gateway.metric("aurora_gateway_viewer_input_messages_total") >= counted, timeout=30,
                       what=f"{counted} viewer frames counted")
            if oversize is not None:
                ws.send(oversize)
                with pytest.raises(ConnectionClosed):
                    while True:
                        ws.recv(timeout=30)  # what was sent to it, then the close
                assert ws.protocol.close_code == 1009
        wait_until(lambda: gateway.metric("aurora_gateway_viewers") == 1, timeout=30, what="the viewer gone")

    batch()
    assert gateway.proc.poll() is None and gateway.health()[0] == 200
    assert not good.ended and not good.of_type("resync")
    stop(painter)
    final = fresh_snapshot(addrs)
    good.wait_for_seq(final.seq)
    rebuilt = Rebuilt([m for _, m in good.messages])  # asserts every event followed the one before
    assert {n: c.to_dict() for n, c in rebuilt.canvases.items()} == {n: c.to_dict() for n, c in final.canvases.items()}
    assert "ghost" not in final.canvases  # no command painted
    good.close()
    print(f"WebSocket: {counted} hostile frames counted and ignored")
