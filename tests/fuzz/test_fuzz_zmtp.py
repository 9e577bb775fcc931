"""Below the envelopes: raw bytes at each of the canvas's four TCP ports (no ZMTP at all, or a ZMTP greeting that
goes wrong), and a frame past ZeroMQ's own limit. ZeroMQ drops such peers itself; the canvas stays up, the good
agent decides as before (stored first), and no handler crashed.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

import socket
from collections import Counter
from urllib.parse import urlsplit

import pytest
from hypothesis import given, strategies as st

from proto.envelope import Message, encode
from tests.fuzz.budget import fuzz
from tests.fuzz.hostile import HARD_LIMIT
from tests.fuzz.peer import Peer, counted

pytestmark = pytest.mark.fuzz

SOCKETS = ("agents", "events", "snapshots", "record")
# A ZMTP 3 greeting's start (signature, version), then a mechanism: what a ZeroMQ peer sends first.
GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x01"
MECHANISMS = [b"NULL", b"CURVE", b"PLAIN", b"\xff" * 20]


def _greeting_then(garbage: bytes, mechanism: bytes) -> bytes:
    return GREETING + mechanism.ljust(20, b"\x00")[:20] + b"\x00" * 32 + garbage


raw = st.binary(max_size=2000) | st.builds(_greeting_then, st.binary(max_size=2000), st.sampled_from(MECHANISMS))


def test_raw_bytes_at_every_port_leave_the_canvas_serving(studio, ada):
    sent: Counter[str] = Counter()

    @fuzz(150)
    @given(st.sampled_from(SOCKETS), raw)
    def batch(name, data):
        address = urlsplit(getattr(studio.addrs, name))
        with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
            try:
                conn.sendall(data)
            except OSError:  # ZeroMQ hung up on it already
                pass
        sent[name] += 1

    with ada.client.keepalive():
        batch()
    assert studio.proc.poll() is None
    ada.decides()
    counted(studio.stopped_counters(), Counter())
    print(f"raw TCP: {dict(sent)} connections of bytes")


def test_a_frame_past_zeromq_s_limit_drops_its_peer_alone(studio, ctx, ada):
    peer = Peer(ctx, studio.addrs.agents)
    try:
        peer.send([encode(Message("ops", {"text": "x"}, "ada"))[:8] + b"\x00" * HARD_LIMIT])
        assert peer.reply(2) is None  # ZeroMQ cut the connection before the canvas saw a byte of it
    finally:
        peer.close()
    assert studio.proc.poll() is None
    ada.decides()
    counted(studio.stopped_counters(), Counter())
