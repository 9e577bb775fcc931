"""Fuzz the canvas's record socket. Over real ZeroMQ: peers with no key, an agent's key, the studio's, a stranger's
or a wrong canvas key get nothing through (refused and counted at the handshake), while the recorder keeps recording;
with the recorder's own key, malformed frames and record_hellos the canvas must not adopt, before its recorder came
(the canvas then still serves no one) and after (the recorder stays attached), each get a refusal with a code. In
process: any recorded canvases a hello may carry are adopted whole or refused with `bad_field`, never a crash.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

from collections import Counter

import pytest
import zmq
from hypothesis import given, strategies as st

from proto.canvas import CanvasModel
from proto.messages import RECORDER_TYPES
from services.base.curve import KEY_ENV, SERVER_KEY_ENV, ClientCurve
from services.base.keys import RECORDER, STUDIO, Keys
from services.canvas.client import CanvasClient, CanvasGone
from tests.canvas.fakes import Harness
from tests.fuzz.budget import fuzz
from tests.fuzz.conftest import Good
from tests.fuzz.hostile import Hostile, before_hello, envelope, malformed, multipart, pack, values
from tests.fuzz.peer import Peer, counted, refused
from tests.support.curve import curve_canvas, recorder_process
from tests.support.processes import stop

pytestmark = pytest.mark.fuzz

BAD_NAMES = ["", "Ada", "canvas", "9lives", "a" * 33, "ada/../bob", "ada\n"]
canvas_maps = st.sampled_from([(32, 16), (8, 4), (128, 64)]).map(lambda size: CanvasModel(*size).to_dict())


@st.composite
def broken_canvas(draw) -> dict:
    """A recorded canvas map with one part missing or of any other value (it may still be one)."""
    data = draw(canvas_maps)
    part = draw(st.sampled_from(["width", "height", "cells", "state"] + [f"state.{k}" for k in data["state"]]))
    holder, key = (data["state"], part[6:]) if part.startswith("state.") else (data, part)
    if draw(st.booleans()):
        del holder[key]
    else:
        holder[key] = draw(values)
    return data


def unadoptable(ahead: bool) -> st.SearchStrategy[Hostile]:
    """record_hellos the canvas must refuse: a seq below zero, or (`ahead`, a canvas already serving) past its own;
    before its first recorder, a seq with no canvases, or canvases under a name no agent has or missing a part."""
    def hello(seq, canvases):
        return Hostile("record_hello", [pack(envelope("record_hello", {"seq": seq, "canvases": canvases},
                                                      sender="recorder"))], frozenset({"bad_field"}))
    anything = st.none() | st.dictionaries(st.text(max_size=10), values, max_size=2)
    below = st.builds(hello, st.integers(-(1 << 63), -1), anything)
    if ahead:
        return below | st.builds(hello, st.integers(10**12, (1 << 63) - 1), anything)
    misnamed = st.builds(lambda name, c: {name: c}, st.sampled_from(BAD_NAMES), canvas_maps)
    partial = st.builds(lambda part, c: {"ada": {k: v for k, v in c.items() if k != part}},
                        st.sampled_from(["width", "height", "cells", "state"]), canvas_maps)
    return below | st.builds(hello, st.integers(1, 10**9), st.none()) | st.builds(hello, st.integers(0, 10**9),
                                                                                 misnamed | partial)


def recorder_frames(ahead: bool) -> st.SearchStrategy[Hostile]:
    return st.one_of(malformed(RECORDER_TYPES, limit=None), multipart(RECORDER_TYPES), unadoptable(ahead),
                     *([before_hello(RECORDER_TYPES, "record_hello")] if ahead else []))


def _batch(ctx, studio, curve: ClientCurve, ahead: bool, tally: Counter, examples: int) -> None:
    """Hostile frames from connections with the recorder's key, each followed by a probe answered at once."""
    @fuzz(examples)
    @given(recorder_frames(ahead))
    def batch(frame):
        peer = Peer(ctx, studio.addrs.record, curve)
        try:
            peer.send(frame.frames)
            probe = envelope("snapshot_request", {}, sender="recorder")  # no type of this socket's: refused at once
            peer.send([pack(probe)])
            *answers, last = peer.replies_until(probe["id"])
        finally:
            peer.close()
        assert last.body["code"] == "unknown_type"
        if frame.kind == "multipart":
            assert answers == []  # dropped, counted
        else:
            [answer] = answers
            refused(answer, frame, tally)
    batch()


def test_the_recorder_s_key_with_hostile_frames_gets_codes_before_and_after_the_recorder_came(
        tmp_path, monkeypatch, ctx, record_url, record_db):
    data = tmp_path / "data"
    monkeypatch.setenv("AURORA_DATA", str(data))
    tally: Counter[str] = Counter()
    with curve_canvas(data, durable=True, curve=False) as studio:
        env = studio.keys.local_client(RECORDER)
        curve = ClientCurve.load(env[SERVER_KEY_ENV], env[KEY_ENV])
        _batch(ctx, studio, curve, ahead=False, tally=tally, examples=100)
        early = CanvasClient("ada", studio.addrs.agents, context=ctx, proof=studio.keys.hello_proof("ada"))
        with pytest.raises(CanvasGone, match="unavailable"):  # nothing adopted: it still waits for its record
            early.connect()
        early.close(bye=False)
        recorder = recorder_process(studio, record_url)
        try:
            ada = Good(studio, ctx, record_db)
            ada.decides("pen down")
            with ada.client.keepalive():
                _batch(ctx, studio, curve, ahead=True, tally=tally, examples=100)
            ada.decides()  # the recorder is still the one attached: the decision is stored before its reply
            ada.client.close()
            counters = studio.stopped_counters()
        finally:
            stop(recorder)
        assert recorder.returncode == 0
    counted(counters, tally)
    assert tally["bad_field"] > 0 and tally["not_registered"] > 0
    print(f"record socket, the recorder's key: {sum(tally.values())} refused {dict(tally)}")


def test_no_other_key_nor_a_plaintext_peer_gets_through_the_record_socket(studio, ctx, ada, tmp_path):
    other = Keys(tmp_path / "other")  # another studio's canvas key: the handshake fails before ZAP
    other.server_key_made()
    curves = {"plaintext": None, "ada": studio.client("ada"), STUDIO: studio.client(STUDIO),
              "stranger": studio.stranger("stranger"),
              "wrong_canvas_key": ClientCurve.load(other.server_public,
                                                   studio.keys.create_client("w", other.root, authorize=False)[1])}

    peers: list[tuple[str, Peer]] = []

    def batch(kind: str):
        @fuzz(6)
        @given(st.lists(unadoptable(ahead=True) | malformed(RECORDER_TYPES, limit=None), min_size=1, max_size=3))
        def peer_sends(frames):
            peer = Peer(ctx, studio.addrs.record, curves[kind])
            peers.append((kind, peer))  # kept open to the end: each handshake is tried, refused and counted
            for frame in frames:
                try:
                    peer.sock.send_multipart(frame.frames, zmq.NOBLOCK)
                except zmq.Again:  # queued nowhere: the connection is not there
                    pass
            assert peer.reply(0.2) is None
        peer_sends()

    with ada.client.keepalive():
        for kind in curves:
            batch(kind)
    assert studio.proc.poll() is None
    ada.decides()  # stored first: the recorder still records
    assert all(peer.reply(0) is None for _, peer in peers)
    for _, peer in peers:
        peer.close()
    counters = studio.stopped_counters()
    kinds = Counter(kind for kind, _ in peers)
    assert counters.get("keys_refused", 0) >= kinds["ada"] + kinds[STUDIO] + kinds["stranger"], counters
    assert counters.get("curve_handshakes_failed", 0) >= kinds["plaintext"] + kinds["wrong_canvas_key"], counters
    counted(counters, Counter())
    print(f"record socket, other peers: {dict(kinds)} refused ({counters.get('keys_refused', 0)} keys, "
          f"{counters.get('curve_handshakes_failed', 0)} handshakes)")


@fuzz(600)
@given(st.integers(0, 50), st.dictionaries(st.sampled_from(["ada", "bob", "c-3"]), broken_canvas(), min_size=1,
                                           max_size=3))
def test_any_recorded_canvases_are_adopted_whole_or_refused_with_bad_field(seq, canvases):
    h = Harness(durable=True)
    h.as_recorder("record_hello", {"seq": seq, "canvases": canvases})
    reply = h.outbox.recorded[-1][1]
    if reply.type == "recorded":
        assert h.studio.recorder.ready and set(h.studio.canvases) == set(canvases) and h.studio.seq == seq
        for name, canvas in h.studio.canvases.items():  # what was adopted serves: a view and a state for each
            assert canvas.view() and canvas.state()["cursor"]
    else:
        assert reply.body["code"] == "bad_field" and not h.studio.recorder.ready and not h.studio.canvases
