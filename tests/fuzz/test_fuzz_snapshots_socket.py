"""Fuzz the canvas's snapshots socket over real ZeroMQ: malformed, huge, nested and multipart frames, and snapshot
requests for any name. Each frame gets a refusal with a code or a snapshot of committed events only (multipart
frames are dropped and counted); after the batch the canvas is up, the good agent decides as before, and the canvas
counted every refusal and crashed on nothing.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

from collections import Counter

import msgpack
import pytest
from hypothesis import given, strategies as st

from proto.messages import SNAPSHOT_TYPES
from tests.fuzz.budget import fuzz
from tests.fuzz.hostile import Hostile, envelope, malformed, multipart, names, pack
from tests.fuzz.peer import Peer, counted, refused

pytestmark = pytest.mark.fuzz


def requests() -> st.SearchStrategy[Hostile]:
    """Well-formed requests for every canvas, or one by any name (another agent's, none's, a bad one)."""
    body = st.just({}) | st.fixed_dictionaries({"agent": st.none() | names.filter(lambda n: len(n) <= 64)})
    return body.map(lambda b: Hostile("request", [pack(envelope("snapshot_request", b))], frozenset()))


def test_every_frame_gets_a_refusal_with_a_code_or_a_committed_snapshot(studio, ctx, ada, record_db):
    tally: Counter[str] = Counter()
    dropped, snapshots = [], []

    @fuzz(300)
    @given(st.one_of(malformed(SNAPSHOT_TYPES), multipart(SNAPSHOT_TYPES), requests()))
    def batch(frame):
        peer = Peer(ctx, studio.addrs.snapshots)
        try:
            peer.send(frame.frames)
            probe = envelope("snapshot_request", {"agent": "ada"})  # answered after whatever came before it
            peer.send([pack(probe)])
            replies = peer.replies_until(probe["id"])
        finally:
            peer.close()
        *answers, last = replies
        assert last.type == "snapshot" and set(last.body["canvases"]) == {"ada"}
        if frame.kind == "multipart":  # one envelope a frame: dropped unanswered, counted
            assert answers == []
            dropped.append(frame)
            return
        [answer] = answers
        if frame.kind == "request":
            assert answer.type == "snapshot", answer.body
            wanted = msgpack.unpackb(frame.frames[0])["body"].get("agent")
            assert wanted is None or set(answer.body["canvases"]) <= {wanted}  # that canvas, or none
            assert answer.body["seq"] <= int(record_db.hget("aurora:recorder", "seq"))  # committed events only
            snapshots.append(answer)
        else:
            refused(answer, frame, tally)

    with ada.client.keepalive():
        batch()
    assert studio.proc.poll() is None
    ada.decides()
    counters = studio.stopped_counters()
    counted(counters, tally)
    assert counters.get("dropped_malformed_routing", 0) >= len(dropped)
    print(f"snapshots socket: {sum(tally.values())} refused {dict(tally)}, {len(dropped)} multipart dropped, "
          f"{len(snapshots)} snapshots")
